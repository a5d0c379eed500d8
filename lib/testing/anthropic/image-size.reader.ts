/** Pixel size of an image. */
export interface ImageSize {
  width: number;
  height: number;
}

/**
 * Reads the width and height from the header of a base64 PNG, GIF, JPEG or WebP image.
 * @returns `undefined` when the data is not one of those formats or is truncated.
 */
export function readImageSize(base64: string): ImageSize | undefined {
  let bytes: Buffer;
  try {
    bytes = Buffer.from(base64, 'base64');
  } catch {
    return undefined;
  }
  return png(bytes) ?? gif(bytes) ?? webp(bytes) ?? jpeg(bytes);
}

function png(b: Buffer): ImageSize | undefined {
  if (b.length < 24 || b.readUInt32BE(0) !== 0x89504e47 || b.toString('ascii', 12, 16) !== 'IHDR') {
    return undefined;
  }
  return valid(b.readUInt32BE(16), b.readUInt32BE(20));
}

function gif(b: Buffer): ImageSize | undefined {
  if (b.length < 10 || b.toString('ascii', 0, 4) !== 'GIF8') return undefined;
  return valid(b.readUInt16LE(6), b.readUInt16LE(8));
}

function webp(b: Buffer): ImageSize | undefined {
  if (
    b.length < 30 ||
    b.toString('ascii', 0, 4) !== 'RIFF' ||
    b.toString('ascii', 8, 12) !== 'WEBP'
  ) {
    return undefined;
  }
  const chunk = b.toString('ascii', 12, 16);
  if (chunk === 'VP8X') return valid(b.readUIntLE(24, 3) + 1, b.readUIntLE(27, 3) + 1);
  if (chunk === 'VP8L') {
    const bits = b.readUInt32LE(21);
    return valid((bits & 0x3fff) + 1, ((bits >> 14) & 0x3fff) + 1);
  }
  if (chunk === 'VP8 ') return valid(b.readUInt16LE(26) & 0x3fff, b.readUInt16LE(28) & 0x3fff);
  return undefined;
}

function jpeg(b: Buffer): ImageSize | undefined {
  if (b.length < 4 || b[0] !== 0xff || b[1] !== 0xd8) return undefined;
  let offset = 2;
  while (offset + 9 < b.length) {
    if (b[offset] !== 0xff) return undefined;
    const marker = b[offset + 1]!;
    const length = b.readUInt16BE(offset + 2);
    // Start-of-frame markers carry the size; C4 (DHT), C8 (JPG) and CC (DAC) do not.
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      return valid(b.readUInt16BE(offset + 7), b.readUInt16BE(offset + 5));
    }
    offset += 2 + length;
  }
  return undefined;
}

function valid(width: number, height: number): ImageSize | undefined {
  return width > 0 && height > 0 ? { width, height } : undefined;
}
