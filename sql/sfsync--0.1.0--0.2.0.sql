-- sfsync 0.1.0 → 0.2.0 (`ALTER EXTENSION sfsync UPDATE`).
--
-- Every change to the extension's SQL made during the 0.2.0 cycle lands here as well as in the
-- sources under sql/ and src/: the upgrade test (tests/tests/upgrade.rs) installs 0.1.0, upgrades it
-- and compares the catalogs with a fresh 0.2.0 install, so a change missing here fails it.
-- sql/sfsync--0.1.0.sql is the frozen install script of 0.1.0 and is never edited.

\echo Use "ALTER EXTENSION sfsync UPDATE" to load this file. \quit
