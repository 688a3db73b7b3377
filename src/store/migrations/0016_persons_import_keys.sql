-- An import recognises a person already in the store by person number, PESEL, album number
-- or, lacking all three, name and birth date (README, "Importing people"): each lookup is
-- one indexed search, so re-importing a large file stays linear.
CREATE INDEX persons_album_number ON persons (album_number) WHERE album_number IS NOT NULL;
CREATE INDEX persons_name_birth ON persons (last_name, first_name, birth_date);
