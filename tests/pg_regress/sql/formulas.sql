-- Fresh formula and roll-up fields (sql/formulas.sql): re-read computed values reach only the columns
-- Salesforce computes and only rows at the version read, never a queued local change, the queue or
-- the read position; parent rows changed since a time; the learned dependencies and their cost in
-- status(); the options. Run in one transaction that is rolled back.
BEGIN;
-- Account with a formula field (as a describe shows one: calculated, neither createable nor updateable)
SELECT sfsync.create_mapping('Account', ARRAY['Name', 'Owner_Label__c'], 'read_write',
           jsonb_build_object('describe', jsonb_set(d.body, '{fields}', (d.body->'fields') || '[{"name": "Owner_Label__c",
               "type": "string", "length": 255, "calculated": true, "calculatedFormula": "Owner.Name",
               "createable": false, "updateable": false, "nillable": true}]'::jsonb)))
       AS m
  FROM regress.describe d WHERE d.object = 'Account' \gset
SELECT column_name, data_type FROM information_schema.columns
 WHERE table_schema = 'salesforce' AND table_name = 'account' AND column_name = 'owner_label__c';

-- three rows as the sync writes them (capture off)
SET LOCAL sfsync.origin = 'salesforce';
INSERT INTO salesforce.account (sfid, name, owner_label__c, systemmodstamp) VALUES
    ('001000000000001AAA', 'One', 'Ann', '2024-01-31 13:00:01'),
    ('001000000000002AAA', 'Two', 'Ann', '2024-01-31 13:00:02'),
    ('001000000000003AAA', 'Three', 'Ann', '2024-01-31 13:00:03');
RESET sfsync.origin;
-- a local change queued on One
UPDATE salesforce.account SET name = 'Mine' WHERE sfid = '001000000000001AAA';

-- re-read values: One and Two at the version the table has, Three at a newer one (its own read brings
-- it whole), a record without a row; Name is not computed and is never written from here
SELECT sfsync._refresh_fields(:m, '[
    {"Id": "001000000000001AAA", "SystemModstamp": "2024-01-31T13:00:01.000+0000", "Owner_Label__c": "Bea", "Name": "From Salesforce"},
    {"Id": "001000000000002AAA", "SystemModstamp": "2024-01-31T13:00:02.000+0000", "Owner_Label__c": "Bea"},
    {"Id": "001000000000003AAA", "SystemModstamp": "2024-01-31T13:00:09.000+0000", "Owner_Label__c": "Bea"},
    {"Id": "001000000000999AAA", "SystemModstamp": "2024-01-31T13:00:09.000+0000", "Owner_Label__c": "Bea"}]') AS refreshed;
SELECT sfid, name, owner_label__c, _hc_lastop FROM salesforce.account ORDER BY sfid;
-- the queued change is as it was and the refresh was not captured
SELECT action, "values"->>'name' AS name FROM sfsync.change ORDER BY id;
-- the same values again change nothing; the read position never moved
SELECT sfsync._refresh_fields(:m, '[{"Id": "001000000000002AAA", "SystemModstamp": "2024-01-31T13:00:02.000+0000", "Owner_Label__c": "Bea"}]') AS refreshed_again;
SELECT hwm IS NULL AS position_untouched FROM sfsync.mapping WHERE id = :m;

-- rows of a (parent's) table changed since a time, oldest first
SELECT * FROM sfsync._changed_rows(:m, '2024-01-31 13:00:02+00');
SELECT * FROM sfsync._changed_rows(:m, '2024-01-31 13:00:01+00', 1);

-- what the sidecar learned, and what keeping it fresh cost, in status()
SELECT sfsync._set_dependencies(:m, '{"signature": "x", "fields": [{"field": "Owner_Label__c", "kind": "formula",
    "reads": ["Owner.Name"], "objects": ["User"], "volatile": false}],
    "parents": [{"object": "User", "key": "OwnerId", "fields": ["Owner_Label__c"]}], "children": []}');
SELECT sfsync._count_formula_calls(:m, 3, 2);
SELECT sfsync._count_formula_calls(:m, 1, 0);
SELECT dependent_fields, formula_api_calls FROM sfsync.status();
SELECT formula_rows_refreshed, formulas_refreshed_at IS NOT NULL AS counted FROM sfsync.mapping WHERE id = :m;

-- bad input
SELECT regress.error_of(format('SELECT sfsync._refresh_fields(%s, ''{}'')', :m));
SELECT regress.error_of(format('SELECT sfsync._refresh_fields(%s, ''[{"Name": "x"}]'')', :m));
SELECT regress.error_of('SELECT sfsync._refresh_fields(424242, ''[]'')');
SELECT regress.error_of(format('SELECT sfsync._set_dependencies(%s, ''[]'')', :m));
SELECT regress.error_of(format('SELECT sfsync._count_formula_calls(%s, -1, 0)', :m));

-- the options
SELECT fresh_formulas, formula_refresh_seconds FROM sfsync.mapping WHERE id = :m;
SELECT regress.error_of($$SELECT sfsync.alter_mapping('Account', '{"formula_refresh_seconds": 5}')$$);
SELECT regress.error_of($$SELECT sfsync.alter_mapping('Account', '{"fresh_formulas": "no"}')$$);
SELECT sfsync.alter_mapping('Account', '{"fresh_formulas": false, "formula_refresh_seconds": 600}');
SELECT fresh_formulas, formula_refresh_seconds FROM sfsync.mapping WHERE id = :m;
SELECT regress.error_of($$SELECT regress.map_account('Contact', ARRAY['Name'], 'read_only', '{"formula_refresh_seconds": 604801}')$$);
ROLLBACK;
