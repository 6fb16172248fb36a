-- Where an uploaded configuration's tarball is: each upload attempt writes a blob of its own,
-- and the attempt that wins the version's compare-and-set records it here, so a losing PUT of
-- the same URL changes nothing. NULL for versions uploaded before (their blob has a fixed key).
ALTER TABLE configuration_versions ADD COLUMN tarball_key TEXT;
