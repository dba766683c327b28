-- The change feed carries albums and share links beside images: `entity` says which table
-- `image_id` (the entity's id) belongs to.
ALTER TABLE changes ADD COLUMN entity TEXT NOT NULL DEFAULT 'image';
