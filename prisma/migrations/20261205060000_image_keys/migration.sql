-- Image.path holds the image's object-store key (`store/xx/<sha256>.jpg`), the same on every host, instead of
-- the absolute path of the file on the host that stored it. One pass over the table, once.
UPDATE "Image" SET "path" = 'store/' || substr("sha256", 1, 2) || '/' || "sha256" || '.jpg'
WHERE "path" <> 'store/' || substr("sha256", 1, 2) || '/' || "sha256" || '.jpg';
