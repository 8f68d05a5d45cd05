-- A Heroku-Connect-style capture, rebuilt from what Heroku Connect creates in a database (its
-- _trigger_log tables and triggers) and how it writes: a PL/pgSQL logger writing hstore diffs into _trigger_log, a BEFORE status trigger, the
-- get_xmlbinary() echo guard in the WHEN clause, and a NOTIFY on every trigger-log insert.
CREATE EXTENSION IF NOT EXISTS hstore;
CREATE SCHEMA hc;

CREATE FUNCTION public.get_xmlbinary() RETURNS varchar LANGUAGE plpgsql AS $$
DECLARE
    xmlbin varchar;
BEGIN
    SELECT setting INTO xmlbin FROM pg_settings WHERE name = 'xmlbinary';
    RETURN xmlbin;
END
$$;

CREATE TABLE hc._trigger_log (
    id serial PRIMARY KEY, txid bigint, created_at timestamptz DEFAULT now(), updated_at timestamptz DEFAULT now(),
    processed_at timestamptz, processed_tx bigint, state varchar(8), action varchar(7), table_name varchar(128),
    record_id integer, sfid varchar(18), old text, "values" text, sf_result integer, sf_message text
);
CREATE INDEX _trigger_log_idx_created_at ON hc._trigger_log (created_at);
CREATE INDEX _trigger_log_idx_state_id ON hc._trigger_log (state, id);
CREATE INDEX _trigger_log_idx_state_table_name ON hc._trigger_log (state, table_name) WHERE state IN ('NEW', 'PENDING');

CREATE FUNCTION hc.tlog_notify_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('hc.hc_trigger_log', 'ping');
    RETURN new;
END
$$;
CREATE TRIGGER tlog_insert_trigger AFTER INSERT ON hc._trigger_log FOR EACH ROW EXECUTE PROCEDURE hc.tlog_notify_trigger();

CREATE FUNCTION hc.hc_account_logger() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    trigger_row hc._trigger_log;
    excluded_cols text[] = ARRAY['_hc_lastop', '_hc_err']::text[];
BEGIN
    trigger_row = ROW();
    trigger_row.id = nextval('hc._trigger_log_id_seq');
    trigger_row.action = TG_OP::text;
    trigger_row.table_name = TG_TABLE_NAME::text;
    trigger_row.txid = txid_current();
    trigger_row.state = 'NEW';
    IF (TG_OP = 'DELETE') THEN
        trigger_row.record_id = OLD.id;
        trigger_row.old = hstore(OLD.*) - excluded_cols;
        IF (OLD.sfid IS NOT NULL) THEN
            trigger_row.sfid = OLD.sfid;
        ELSE
            trigger_row.state = 'IGNORE';
        END IF;
    ELSEIF (TG_OP = 'INSERT') THEN
        trigger_row.record_id = NEW.id;
        trigger_row.values = hstore(NEW.*) - excluded_cols;
    ELSEIF (TG_OP = 'UPDATE') THEN
        trigger_row.record_id = NEW.id;
        trigger_row.old = hstore(OLD.*) - excluded_cols;
        trigger_row.values = (hstore(NEW.*) - hstore(trigger_row.old)) - excluded_cols;
        IF (trigger_row.values = '') THEN
            trigger_row.state = 'IGNORE';
        END IF;
        IF (OLD.sfid IS NOT NULL) THEN
            trigger_row.sfid = OLD.sfid;
        END IF;
    END IF;
    INSERT INTO hc._trigger_log VALUES (trigger_row.*);
    RETURN NULL;
END
$$;

CREATE FUNCTION hc.hc_account_status() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (get_xmlbinary()::text = 'base64'::text) THEN
        -- a user session: the change will be written to Salesforce
        IF (TG_OP = 'INSERT' OR TG_OP = 'UPDATE') THEN
            NEW._hc_lastop = 'PENDING';
            NEW._hc_err = NULL;
        END IF;
    ELSE
        IF (TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND NEW._hc_lastop IS NOT DISTINCT FROM OLD._hc_lastop)) THEN
            NEW._hc_lastop = 'SYNCED';
        END IF;
    END IF;
    RETURN NEW;
END
$$;
