-- One database and one owner per service (docker-compose's PostgreSQL runs this once,
-- on an empty data volume). Each service reaches only its own database.
CREATE USER identity PASSWORD 'identity';      CREATE DATABASE identity OWNER identity;
CREATE USER ingest PASSWORD 'ingest';          CREATE DATABASE ingest OWNER ingest;
CREATE USER linking PASSWORD 'linking';        CREATE DATABASE linking OWNER linking;
CREATE USER reports PASSWORD 'reports';        CREATE DATABASE reports OWNER reports;
CREATE USER notifications PASSWORD 'notifications'; CREATE DATABASE notifications OWNER notifications;
CREATE USER dsar PASSWORD 'dsar';              CREATE DATABASE dsar OWNER dsar;
-- The erasure ledger (shared/erasure_ledger.py): identity and dsar append to it, a restore
-- reads it. Its own database and owner, never restored with the services' (on one server
-- here, for development; in production on another server: docs/operations.md).
CREATE USER erasure_ledger PASSWORD 'erasure_ledger'; CREATE DATABASE erasure_ledger OWNER erasure_ledger;
