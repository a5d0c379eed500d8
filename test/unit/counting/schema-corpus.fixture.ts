// Tool schemas in the shapes schema libraries emit, for the tool-schema counting tests.
// - PYDANTIC_SCHEMA: pydantic v2 `model_json_schema()`: `$defs` + `$ref`, `title` on everything,
//   optional fields as `anyOf: [X, { type: 'null' }]` with `default: null`.
// - ZOD_SCHEMA: zod-to-json-schema: `definitions`, `$ref`, discriminated unions as `anyOf`,
//   intersections as `allOf`, `additionalProperties: false`, `$schema`.
// - nestedObjectSchema(levels): an object nested `levels` deep, a description at every level.
// Descriptions are built from a fixed pool of sentences, so the corpus is deterministic.

const SENTENCES = [
  'The value is validated on the server before the order is accepted.',
  'Leave it empty when the customer did not provide one at checkout.',
  'Use the ISO 4217 currency code of the storefront, for example EUR or USD.',
  'Amounts are expressed in minor units: cents for euros and dollars.',
  'This field is shown on the invoice exactly as written, so check spelling.',
  'When several entries match, the most recent one takes precedence.',
  'Only administrators may change this value after the order was shipped.',
  'Dates follow RFC 3339 and must include a time zone offset.',
  'The warehouse picks items in the order they appear in this list.',
  'A null value means the default of the customer account applies.',
  'Free-text notes are truncated to 500 characters by the fulfilment system.',
  'Discount codes are case-insensitive and expire at midnight UTC.',
];

/** A description of `sentences` sentences, starting at a position derived from `seed`. */
export function prose(seed: number, sentences: number): string {
  const parts: string[] = [];
  for (let i = 0; i < sentences; i++) parts.push(SENTENCES[(seed * 7 + i * 5) % SENTENCES.length]);
  return parts.join(' ');
}

const nullable = (schema: Record<string, unknown>, title: string, seed: number) => ({
  anyOf: [schema, { type: 'null' }],
  default: null,
  title,
  description: prose(seed, 3),
});

/** pydantic v2 style: `$defs`, `$ref`, `anyOf` with null, titles and defaults. */
export const PYDANTIC_SCHEMA = {
  $defs: {
    Address: {
      title: 'Address',
      description: prose(1, 4),
      type: 'object',
      properties: {
        street: { title: 'Street', type: 'string', description: prose(2, 3) },
        city: { title: 'City', type: 'string', description: prose(3, 3) },
        postal_code: nullable({ type: 'string', pattern: '^[0-9A-Z -]{3,10}$' }, 'Postal Code', 4),
        country: {
          title: 'Country',
          type: 'string',
          enum: ['FR', 'DE', 'ES', 'IT', 'NL', 'BE', 'US', 'GB'],
          description: prose(5, 3),
        },
      },
      required: ['street', 'city', 'country'],
    },
    LineItem: {
      title: 'LineItem',
      description: prose(6, 4),
      type: 'object',
      properties: {
        sku: { title: 'Sku', type: 'string', description: prose(7, 3) },
        quantity: { title: 'Quantity', type: 'integer', minimum: 1, description: prose(8, 3) },
        unit_price: { title: 'Unit Price', type: 'integer', description: prose(9, 3) },
        gift_wrap: {
          title: 'Gift Wrap',
          type: 'boolean',
          default: false,
          description: prose(10, 2),
        },
      },
      required: ['sku', 'quantity', 'unit_price'],
    },
    Discount: {
      title: 'Discount',
      description: prose(11, 4),
      type: 'object',
      properties: {
        code: { title: 'Code', type: 'string', description: prose(12, 3) },
        percent: nullable({ type: 'number', maximum: 100 }, 'Percent', 13),
        amount: nullable({ type: 'integer' }, 'Amount', 14),
      },
      required: ['code'],
    },
  },
  title: 'CreateOrder',
  description: prose(15, 3),
  type: 'object',
  properties: {
    customer_email: {
      title: 'Customer Email',
      type: 'string',
      format: 'email',
      description: prose(16, 3),
    },
    shipping_address: { $ref: '#/$defs/Address', description: prose(17, 3) },
    billing_address: nullable({ $ref: '#/$defs/Address' }, 'Billing Address', 18),
    items: {
      title: 'Items',
      type: 'array',
      items: { $ref: '#/$defs/LineItem' },
      minItems: 1,
      description: prose(19, 3),
    },
    discount: nullable({ $ref: '#/$defs/Discount' }, 'Discount', 20),
    notes: nullable({ type: 'string', maxLength: 500 }, 'Notes', 21),
    currency: { title: 'Currency', type: 'string', default: 'EUR', description: prose(22, 2) },
  },
  required: ['customer_email', 'shipping_address', 'items'],
};

/** zod-to-json-schema style: `definitions`, unions as `anyOf`, intersections as `allOf`. */
export const ZOD_SCHEMA = {
  type: 'object',
  properties: {
    event: {
      anyOf: [
        {
          type: 'object',
          properties: {
            kind: { type: 'string', const: 'meeting', description: prose(30, 2) },
            attendees: {
              type: 'array',
              items: { $ref: '#/definitions/Person' },
              description: prose(31, 3),
            },
            room: { type: 'string', description: prose(32, 2) },
          },
          required: ['kind', 'attendees'],
          additionalProperties: false,
          description: prose(33, 3),
        },
        {
          type: 'object',
          properties: {
            kind: { type: 'string', const: 'reminder', description: prose(34, 2) },
            message: { type: 'string', description: prose(35, 3) },
            repeat: {
              oneOf: [
                { type: 'string', enum: ['daily', 'weekly', 'monthly'] },
                { type: 'integer', exclusiveMinimum: 0, description: prose(36, 2) },
              ],
              description: prose(37, 2),
            },
          },
          required: ['kind', 'message'],
          additionalProperties: false,
          description: prose(38, 3),
        },
      ],
      description: prose(39, 2),
    },
    when: {
      allOf: [
        { $ref: '#/definitions/TimeRange' },
        {
          type: 'object',
          properties: { time_zone: { type: 'string', description: prose(40, 3) } },
        },
      ],
      description: prose(41, 2),
    },
    tags: {
      type: 'array',
      items: { type: 'string' },
      examples: [['work', 'urgent'], ['family']],
      description: prose(42, 2),
    },
  },
  required: ['event', 'when'],
  additionalProperties: false,
  definitions: {
    Person: {
      type: 'object',
      properties: {
        name: { type: 'string', description: prose(43, 2) },
        email: { type: 'string', format: 'email', description: prose(44, 2) },
        optional: { type: 'boolean', default: false, description: prose(45, 2) },
      },
      required: ['name', 'email'],
      additionalProperties: false,
      description: prose(46, 3),
    },
    TimeRange: {
      type: 'object',
      properties: {
        start: { type: 'string', format: 'date-time', description: prose(47, 2) },
        end: { type: 'string', format: 'date-time', description: prose(48, 2) },
      },
      required: ['start', 'end'],
      additionalProperties: false,
      description: prose(49, 3),
    },
  },
  $schema: 'http://json-schema.org/draft-07/schema#',
};

/**
 * An object nested `levels` deep (level 1 is the function's parameters): each level has a
 * described `label`, a described `count` and, but for the last, a described `child` object.
 */
export function nestedObjectSchema(levels: number): Record<string, unknown> {
  let schema: Record<string, unknown> | undefined;
  for (let level = levels; level >= 1; level--) {
    const properties: Record<string, unknown> = {
      label: { type: 'string', description: prose(level, 2) },
      count: { type: 'integer', description: prose(level + 50, 1) },
    };
    if (schema !== undefined) properties.child = { ...schema, description: prose(level + 100, 2) };
    schema = { type: 'object', properties, required: ['label'] };
  }
  return schema as Record<string, unknown>;
}

/** A Chat Completions function tool. */
export function chatTool(
  name: string,
  description: string,
  parameters: Readonly<Record<string, unknown>>,
) {
  return { type: 'function' as const, function: { name, description, parameters } };
}
