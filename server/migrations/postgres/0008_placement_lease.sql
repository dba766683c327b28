-- One mover at a time per image (see `placement`): whoever holds an unexpired lease moves the
-- image's objects; two opposite moves at once could otherwise delete both copies.
ALTER TABLE images ADD COLUMN placing_holder TEXT;
ALTER TABLE images ADD COLUMN placing_until timestamptz;
