-- The signature a provider puts on a model's reasoning (Anthropic's
-- extended thinking), kept to hand the reasoning back with later steps.
ALTER TABLE local_messages ADD COLUMN reasoning_signature TEXT;
