-- Default list prices (USD per 1M tokens) of widely used models and default FX rates (units per
-- 1 USD), effective from 2024-01-01. Staff edit both in Settings; later entries supersede these.
-- A null cache price falls back to the input price (docs/billing.md).
INSERT INTO "model_prices" ("model", "provider", "effective_from", "input_per_m", "output_per_m", "cache_read_per_m", "cache_write_per_m") VALUES
  ('gpt-4o',            'openai',    '2024-01-01',  2.50,  10.00, 1.25,   NULL),
  ('gpt-4o-mini',       'openai',    '2024-01-01',  0.15,   0.60, 0.075,  NULL),
  ('gpt-4.1',           'openai',    '2024-01-01',  2.00,   8.00, 0.50,   NULL),
  ('gpt-4.1-mini',      'openai',    '2024-01-01',  0.40,   1.60, 0.10,   NULL),
  ('gpt-4.1-nano',      'openai',    '2024-01-01',  0.10,   0.40, 0.025,  NULL),
  ('gpt-5',             'openai',    '2024-01-01',  1.25,  10.00, 0.125,  NULL),
  ('gpt-5-mini',        'openai',    '2024-01-01',  0.25,   2.00, 0.025,  NULL),
  ('o3',                'openai',    '2024-01-01',  2.00,   8.00, 0.50,   NULL),
  ('o4-mini',           'openai',    '2024-01-01',  1.10,   4.40, 0.275,  NULL),
  ('claude-opus-4',     'anthropic', '2024-01-01', 15.00,  75.00, 1.50,  18.75),
  ('claude-opus-4-1',   'anthropic', '2024-01-01', 15.00,  75.00, 1.50,  18.75),
  ('claude-sonnet-4',   'anthropic', '2024-01-01',  3.00,  15.00, 0.30,   3.75),
  ('claude-sonnet-4-5', 'anthropic', '2024-01-01',  3.00,  15.00, 0.30,   3.75),
  ('claude-3-7-sonnet', 'anthropic', '2024-01-01',  3.00,  15.00, 0.30,   3.75),
  ('claude-3-5-haiku',  'anthropic', '2024-01-01',  0.80,   4.00, 0.08,   1.00),
  ('claude-haiku-4-5',  'anthropic', '2024-01-01',  1.00,   5.00, 0.10,   1.25),
  ('gemini-2.5-pro',    'google',    '2024-01-01',  1.25,  10.00, 0.125,  NULL),
  ('gemini-2.5-flash',  'google',    '2024-01-01',  0.30,   2.50, 0.03,   NULL),
  ('gemini-2.0-flash',  'google',    '2024-01-01',  0.10,   0.40, 0.025,  NULL);
--> statement-breakpoint
INSERT INTO "fx_rates" ("currency", "effective_from", "rate") VALUES
  ('EUR', '2024-01-01', 0.86),
  ('GBP', '2024-01-01', 0.75),
  ('NGN', '2024-01-01', 1460),
  ('CAD', '2024-01-01', 1.39),
  ('AUD', '2024-01-01', 1.53);
