-- The optional PostgreSQL of docker-compose.yml (`--profile postgres`): one database each, so that NocoDB's
-- tables and facegate's never share a schema or a migration history. The postgres image runs this once,
-- on the first start of an empty volume; on an existing volume create them by hand (psql -U postgres).
CREATE DATABASE nocodb;
CREATE DATABASE facegate;
