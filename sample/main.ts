import { startSample } from './bootstrap.js';

const port = process.env.PORT === undefined ? 3000 : Number(process.env.PORT);
if (!Number.isInteger(port) || port < 0 || port > 65_535) {
  console.error(
    `Invalid PORT ${JSON.stringify(process.env.PORT)}: expected a whole number from 0 to 65535.`,
  );
  process.exit(1);
}
const sample = await startSample({ port, host: process.env.HOST }).catch((error: unknown) => {
  if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
  console.error(
    `Port ${port} is already in use (another \`npm start\`?). Start on another port: PORT=${port + 1} npm start`,
  );
  process.exit(1);
});
process.once('SIGINT', () => void sample.close());
process.once('SIGTERM', () => void sample.close());
