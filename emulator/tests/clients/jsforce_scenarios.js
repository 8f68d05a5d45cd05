// Runs one jsforce scenario against a running emulator and prints what jsforce returned as one JSON object on
// stdout; the Rust test (tests/clients/jsforce.rs) checks it. Nothing here decides pass or fail except uncaught
// errors, which exit non-zero with the error on stderr.
//
//   node jsforce_scenarios.js <scenario>
//   env: EMULATOR_URL, EMULATOR_USERNAME, EMULATOR_PASSWORD, EMULATOR_CLIENT_ID, EMULATOR_CLIENT_SECRET,
//        JWT_KEY_FILE (for "jwt"), NODE_EXTRA_CA_CERTS (the emulator's CA)
'use strict';

const crypto = require('node:crypto');
const fs = require('node:fs');
const jsforce = require('jsforce');
const { StreamingExtension } = require('jsforce/lib/api/streaming');

const url = process.env.EMULATOR_URL;
const username = process.env.EMULATOR_USERNAME;
const password = process.env.EMULATOR_PASSWORD;
const clientId = process.env.EMULATOR_CLIENT_ID;
const clientSecret = process.env.EMULATOR_CLIENT_SECRET;
const version = '62.0';

function oauth2() {
  return new jsforce.OAuth2({ loginUrl: url, clientId, clientSecret });
}

/** A connection logged in with the username-password flow. */
async function passwordLogin() {
  const conn = new jsforce.Connection({ oauth2: oauth2(), version });
  const userInfo = await conn.login(username, password);
  return { conn, userInfo };
}

/** An RS256 JWT bearer assertion signed with the test key. */
function assertion(audience) {
  const encode = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const claims = { iss: clientId, sub: username, aud: audience, exp: Math.floor(Date.now() / 1000) + 120 };
  const unsigned = `${encode({ alg: 'RS256' })}.${encode(claims)}`;
  const signature = crypto.sign('RSA-SHA256', Buffer.from(unsigned), fs.readFileSync(process.env.JWT_KEY_FILE));
  return `${unsigned}.${signature.toString('base64url')}`;
}

/** The error a rejected jsforce promise carries, as plain data. */
async function failure(promise) {
  try {
    await promise;
    return null;
  } catch (error) {
    return { name: error.name, errorCode: error.errorCode, message: error.message };
  }
}

const scenarios = {
  /** Username-password, refresh-token, client-credentials and JWT bearer logins, then identity(). */
  async login() {
    const { conn, userInfo } = await passwordLogin();
    const identity = await conn.identity();

    const refreshToken = await fetch(`${url}/__emulator/refresh-tokens`, { method: 'POST' })
      .then((response) => response.json())
      .then((body) => body.refresh_token);
    const refreshed = await oauth2().refreshToken(refreshToken);
    const viaRefresh = new jsforce.Connection({ instanceUrl: refreshed.instance_url, accessToken: refreshed.access_token, version });
    const refreshedIdentity = await viaRefresh.identity();

    const credentials = new jsforce.Connection({ oauth2: oauth2(), version });
    const credentialsUser = await credentials.authorize({ grant_type: 'client_credentials' });

    const jwt = new jsforce.Connection({ oauth2: new jsforce.OAuth2({ loginUrl: url, clientId }), version });
    const jwtUser = await jwt.authorize({
      grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer',
      assertion: assertion(url),
    });
    const jwtIdentity = await jwt.identity();

    const badPassword = await failure(new jsforce.Connection({ oauth2: oauth2(), version }).login(username, 'wrong'));
    return {
      userInfo,
      accessToken: conn.accessToken,
      instanceUrl: conn.instanceUrl,
      identity,
      refreshedUser: refreshedIdentity.user_id,
      credentialsUser,
      jwtUser,
      jwtIdentityUser: jwtIdentity.username,
      badPassword,
    };
  },

  /** Single-record create, retrieve, update, upsert by external id and delete; describe of a missing object. */
  async crud() {
    const { conn } = await passwordLogin();
    const created = await conn.sobject('Account').create({ Name: 'jsforce One', Industry: 'Energy' });
    await conn.sobject('Account').update({ Id: created.id, Name: 'jsforce Renamed' });
    const retrieved = await conn.sobject('Account').retrieve(created.id);
    const upsertCreated = await conn.sobject('Widget__c').upsert({ Name: 'W', Ext_Id__c: 'J-1', Status__c: 'Open' }, 'Ext_Id__c');
    const upsertUpdated = await conn.sobject('Widget__c').upsert({ Name: 'W2', Ext_Id__c: 'J-1' }, 'Ext_Id__c');
    const widget = await conn.sobject('Widget__c').retrieve(upsertCreated.id);
    const deleted = await conn.sobject('Account').destroy(created.id);
    const afterDelete = await failure(conn.sobject('Account').retrieve(created.id));
    const missingObject = await failure(conn.sobject('NoSuchObject__c').describe());
    const invalidField = await failure(conn.sobject('Account').create({ Name: 'x', NoSuchField__c: 1 }));
    return { created, retrieved, upsertCreated, upsertUpdated, widget, deleted, afterDelete, missingObject, invalidField };
  },

  /** sObject Collections: create, retrieve, update and delete several records in one call each. */
  async collections() {
    const { conn } = await passwordLogin();
    const accounts = conn.sobject('Account');
    const created = await accounts.create(
      [{ Name: 'Collection A' }, { Name: 'Collection B' }, { Name: 'Collection C' }],
      { allOrNone: true },
    );
    const ids = created.map((result) => result.id);
    const updated = await accounts.update(ids.map((Id, i) => ({ Id, Name: `Collection ${i} updated` })));
    const retrieved = await accounts.retrieve(ids);
    const partial = await accounts.create([{ Name: 'Good' }, { Industry: 'Energy' }], { allOrNone: false });
    const rolledBack = await accounts.create([{ Name: 'Kept?' }, { Industry: 'Energy' }], { allOrNone: true });
    const deleted = await accounts.destroy(ids);
    const remaining = await conn.query("SELECT COUNT() FROM Account WHERE Name LIKE 'Collection%' OR Name = 'Kept?'");
    return { created, updated, retrieved, partial, rolledBack, deleted, remaining: remaining.totalSize };
  },

  /** SOQL over more than one page: autoFetch through queryMore, and queryMore called by hand. */
  async query() {
    const { conn } = await passwordLogin();
    await fetch(`${url}/__emulator/seed`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ object: 'Account', count: 2500 }),
    });
    const soql = 'SELECT Id, Name FROM Account ORDER BY Name';
    const all = await conn.query(soql).run({ autoFetch: true, maxFetch: 10000 });
    const first = await conn.query(soql);
    const second = await conn.queryMore(first.nextRecordsUrl);
    const firstPageIds = new Set(first.records.map((r) => r.Id));
    const allIds = new Set(all.records.map((r) => r.Id));
    const count = await conn.query('SELECT COUNT() FROM Account');
    const relationship = await conn.query('SELECT Id, Owner.Name FROM Account LIMIT 1');
    const queryAll = await conn.query('SELECT Id FROM Account LIMIT 5', { scanAll: true });
    const malformed = await failure(conn.query('SELECT FROM Account'));
    return {
      fetched: all.records.length,
      distinct: allIds.size,
      totalSize: all.totalSize,
      firstDone: first.done,
      firstPage: first.records.length,
      secondPage: second.records.length,
      secondDone: second.done,
      overlap: second.records.filter((r) => firstPageIds.has(r.Id)).length,
      sortedFirst: first.records[0].Name,
      count: count.totalSize,
      ownerName: relationship.records[0].Owner.Name,
      queryAllSize: queryAll.totalSize,
      malformed,
    };
  },

  /** Bulk API 2.0: ingest a CSV and wait for the results, then a query job read back as records. */
  async bulk() {
    const { conn } = await passwordLogin();
    conn.bulk2.pollTimeout = 60000;
    conn.bulk2.pollInterval = 200;
    const rows = ['Name,Industry'];
    for (let i = 0; i < 300; i++) rows.push(`Bulk ${String(i).padStart(3, '0')},Energy`);
    rows.push(',Energy');
    const ingest = await conn.bulk2.loadAndWaitForResults({
      object: 'Account',
      operation: 'insert',
      input: rows.join('\n') + '\n',
    });
    const records = await (await conn.bulk2.query("SELECT Id, Name, Industry FROM Account WHERE Name LIKE 'Bulk %'")).toArray();
    return {
      successful: ingest.successfulResults.length,
      failed: ingest.failedResults.length,
      failedError: ingest.failedResults[0]?.sf__Error,
      unprocessed: ingest.unprocessedRecords.length,
      firstSuccess: ingest.successfulResults[0],
      queried: records.length,
      queriedSample: records.find((r) => r.Name === 'Bulk 007'),
    };
  },

  /** Change Data Capture over CometD: a replay of retained events (-2), then a live one. */
  async streaming() {
    const { conn } = await passwordLogin();
    const before = await conn.sobject('Account').create({ Name: 'Streamed Before' });
    const channel = '/data/AccountChangeEvent';
    const events = [];
    const client = conn.streaming.createClient([new StreamingExtension.Replay(channel, -2)]);
    let live;
    const done = new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out with ${events.length} events`)), 30000);
      client.subscribe(channel, (message) => {
        events.push(message);
        if (events.some((e) => e.payload.Name === 'Streamed Live')) {
          clearTimeout(timer);
          resolve();
        }
      }).then(async () => {
        live = await conn.sobject('Account').create({ Name: 'Streamed Live' });
      }, reject);
    });
    await done;
    client.disconnect();
    const summary = events.map((e) => ({
      replayId: e.event.replayId,
      changeType: e.payload.ChangeEventHeader.changeType,
      recordIds: e.payload.ChangeEventHeader.recordIds,
      name: e.payload.Name,
    }));
    return { before: before.id, live: live.id, events: summary };
  },

  /** limits() and a composite request with a reference between subrequests. */
  async limitsAndComposite() {
    const { conn } = await passwordLogin();
    const limits = await conn.limits();
    const composite = await conn.requestPost('/composite', {
      allOrNone: true,
      compositeRequest: [
        { method: 'POST', url: `/services/data/v${version}/sobjects/Account`, referenceId: 'NewAccount', body: { Name: 'Composite Parent' } },
        {
          method: 'POST',
          url: `/services/data/v${version}/sobjects/Contact`,
          referenceId: 'NewContact',
          body: { LastName: 'Composite Child', AccountId: '@{NewAccount.id}' },
        },
        { method: 'GET', url: `/services/data/v${version}/sobjects/Contact/@{NewContact.id}?fields=AccountId,LastName`, referenceId: 'ReadBack' },
      ],
    });
    return { limits: limits.DailyApiRequests, composite };
  },
};

async function main() {
  const name = process.argv[2];
  const scenario = scenarios[name];
  if (!scenario) {
    throw new Error(`unknown scenario ${name}; known: ${Object.keys(scenarios).join(', ')}`);
  }
  const result = await scenario();
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

main().then(
  () => process.exit(0),
  (error) => {
    process.stderr.write(`${error.stack || error}\n${JSON.stringify(error)}\n`);
    process.exit(1);
  },
);
