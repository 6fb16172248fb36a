// The web UI in a real Chromium (Debian's, driven by playwright-core), against a running
// server that tests/tests/web_ui.rs prepared: an organization `acme` with workspaces `web`
// (one applied run, a plain and a sensitive output), `db`, and `slow`, `stuck` and `gated`,
// each with a run waiting for confirmation whose apply prints a tick a second (6, 300 and
// 1 s); `alice` is its owner, `carol` a member whose team may only read those three, `bob`
// belongs to another organization. Every page visited is checked with axe-core (no serious
// or critical violations), in light and dark mode, and at 360 px wide. Exits non-zero with
// the reason on the first failure.
import { chromium } from 'playwright-core';
import { createHash, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const base = process.env.TERRACE_URL;
const password = process.env.TERRACE_PASSWORD;
const secret = process.env.TERRACE_SECRET;
const shots = process.env.TERRACE_SCREENSHOTS;
const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

function check(condition, message) {
  if (!condition) throw new Error(message);
}

// The browser accepts the server's own certificate, pinned by its public key, and no other:
// Terrace's local CA is not in Chromium's store, and certificate errors are not ignored.
const served = new X509Certificate(readFileSync(process.env.TERRACE_CERT));
const pin = createHash('sha256').update(served.publicKey.export({ type: 'spki', format: 'der' })).digest('base64');
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run',
    `--ignore-certificate-errors-spki-list=${pin}`],
});

/** Runs axe-core in the page: serious and critical violations fail. */
async function accessible(page, label) {
  // The pages' CSP forbids inline scripts (as it should): evaluate through the debugger.
  await page.evaluate(axeSource);
  const result = await page.evaluate(async () => await window.axe.run(document, {
    resultTypes: ['violations'],
  }));
  const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  check(bad.length === 0, `${label}: accessibility violations: ${JSON.stringify(bad.map((v) => ({
    id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.target) })), null, 1)}`);
}

async function signIn(context, username) {
  const page = await context.newPage();
  const response = await page.goto(`${base}/app`);
  check(page.url().includes('/app/sign-in'), `not sent to sign in: ${page.url()}`);
  check(response.ok(), `sign-in page: ${response.status()}`);
  await accessible(page, 'sign-in');
  await page.fill('#username', username);
  await page.fill('#password', password);
  await page.click('button[type=submit]');
  await page.waitForURL(/\/app\/organizations$/);
  return page;
}

/** What sticks out on the right of a narrow page, to say why it is too wide. */
async function overflowing(page) {
  return page.evaluate(() => [...document.querySelectorAll('body *')]
    .filter((e) => e.getBoundingClientRect().right > document.documentElement.clientWidth)
    .slice(0, 5)
    .map((e) => `${e.parentElement.tagName.toLowerCase()}.${e.parentElement.className} > ${e.tagName.toLowerCase()}.${e.className} "${e.textContent.trim().slice(0, 30)}" (right edge ${Math.round(e.getBoundingClientRect().right)} px)`)
    .join(', '));
}

/** The run status the page shows. */
async function status(page) {
  return (await page.textContent('main p .badge'))?.trim();
}

/** Reloads `page` until its run shows one of `wanted` (or fails after a minute). */
async function settles(page, wanted) {
  for (let i = 0; i < 120; i++) {
    const now = await status(page).catch(() => undefined);
    if (wanted.includes(now)) return now;
    await page.waitForTimeout(500);
    if (i % 4 === 3) await page.reload().catch(() => {});
  }
  throw new Error(`the run never became ${wanted.join(' or ')} (last: ${await status(page)})`);
}

/** Opens the only run of a workspace. */
async function openRun(page, workspace) {
  await page.goto(`${base}/app/acme/workspaces/${workspace}/runs`);
  await page.click('table.rows tbody a');
  await page.waitForURL(/\/runs\/run-[^/]+$/);
}

async function shot(page, name) {
  if (shots) await page.screenshot({ path: `${shots}/${name}.png`, fullPage: true });
}

try {
  for (const colorScheme of ['light', 'dark']) {
    const context = await browser.newContext({ colorScheme });
    const page = await signIn(context, 'alice');
    await accessible(page, `organizations (${colorScheme})`);
    await page.click('main a:text-is("acme")');
    await page.waitForURL(/\/app\/acme\/workspaces$/);
    const list = await page.textContent('main');
    check(list.includes('web') && list.includes('db') && list.includes('6 workspaces'), `workspace list: ${list}`);
    check(list.includes('applied'), `no latest-run badge: ${list}`);
    await accessible(page, `workspaces (${colorScheme})`);
    if (colorScheme === 'light') await shot(page, 'workspaces');

    // The header's switcher names her organizations, marks this one, and goes to another.
    await page.click('.switcher summary');
    const orgs = await page.locator('.switcher li a').allTextContents();
    check(orgs.includes('acme') && orgs.includes('labs') && orgs.includes('All organizations'), `switcher: ${orgs}`);
    check(await page.getAttribute('.switcher a[aria-current]', 'href') === '/app/acme/workspaces',
      'the switcher does not mark the current organization');
    await accessible(page, `organization switcher (${colorScheme})`);
    if (colorScheme === 'light') await shot(page, 'switcher');
    await page.click('.switcher a:text-is("labs")');
    await page.waitForURL(/\/app\/labs\/workspaces$/);
    check((await page.textContent('main')).includes('0 workspaces'), 'labs is not the page switched to');
    await page.goBack();
    await page.waitForURL(/\/app\/acme\/workspaces$/);

    await page.fill('#q', 'we');
    await page.click('form.search button');
    await page.waitForURL(/q=we/);
    const found = await page.textContent('table.rows tbody');
    check(found.includes('web') && !found.includes('db'), `search: ${found}`);
    // By tag, by the current run's status; the filters stay in the form.
    await page.click('a:text-is("Clear")');
    await page.fill('#tag', 'tier-db');
    await page.click('form.search button');
    await page.waitForURL(/tag=tier-db/);
    const tagged = await page.locator('table.rows tbody tr').allTextContents();
    check(tagged.length === 1 && tagged[0].includes('db'), `tag filter: ${tagged}`);
    check(await page.inputValue('#tag') === 'tier-db', 'the tag filter left the form');
    await page.fill('#tag', '');
    await page.selectOption('#status', 'applied');
    await page.click('form.search button');
    await page.waitForURL(/status=applied/);
    const applied = await page.locator('table.rows tbody tr').allTextContents();
    check(applied.length === 1 && applied[0].includes('web'), `status filter: ${applied}`);
    await accessible(page, `filtered workspaces (${colorScheme})`);
    // Which workspaces manage a resource: web's two, by a part of the address.
    await page.click('nav[aria-label=Organization] a:text-is("Resources")');
    await page.waitForURL(/\/app\/acme\/resources$/);
    await page.fill('#q', 'terraform_data');
    await page.click('form.search button');
    await page.waitForURL(/resources\?q=terraform_data/);
    const managed = await page.locator('table.rows tbody tr').allTextContents();
    check(managed.length === 2 && managed.every((row) => row.includes('web'))
      && managed.some((row) => row.includes('terraform_data.site')), `resource search: ${managed}`);
    await accessible(page, `resource search (${colorScheme})`);
    await page.goto(`${base}/app/acme/workspaces`);
    await page.fill('#q', 'we');
    await page.click('form.search button');
    await page.waitForURL(/q=we/);

    await page.click('table.rows a:text-is("web")');
    await page.waitForURL(/\/app\/acme\/workspaces\/web$/);
    const overview = await page.textContent('main');
    check(overview.includes('applied'), `overview without its latest run: ${overview}`);
    check(/Resources\s*2\b/.test(overview), `overview without its resource count: ${overview}`);
    check(overview.includes('endpoint') && overview.includes('https://web.example'), `outputs: ${overview}`);
    check(overview.includes('password') && overview.includes('sensitive'), `sensitive output not marked: ${overview}`);
    check(!(await page.content()).includes(secret), 'a sensitive value reached the page');
    // Its history, drawn: two applied runs, two state versions of 1 and 2 resources.
    check(await page.locator('figure.chart').count() === 2, 'no charts on the overview');
    const durations = page.locator('figure[aria-labelledby=chart-durations] rect.bar.ok');
    check(await durations.count() === 2, `run duration bars: ${await durations.count()}`);
    const counts = page.locator('figure[aria-labelledby=chart-resources] svg');
    check((await counts.getAttribute('aria-label')) === 'Resources in state, the last 2: from 1 to 2',
      `resource chart: ${await counts.getAttribute('aria-label')}`);
    const heights = await counts.locator('rect').evaluateAll((bars) => bars.map((b) => Number(b.getAttribute('height'))));
    check(heights.length === 2 && heights[0] * 2 === heights[1], `resource bars: ${heights}`);
    check(/\/states\/sv-/.test(await counts.locator('a').last().getAttribute('href')), 'a bar leads nowhere');
    // The configuration's README, as markdown, without its script and its javascript: link.
    const readme = page.locator('section[aria-labelledby=readme] .readme');
    check((await readme.locator('h3').textContent()) === 'The web site', `README heading: ${await readme.innerHTML()}`);
    check(await readme.locator('table td:text-is("eu")').count() === 1, 'README table not rendered');
    check(await readme.locator('script').count() === 0, 'a README script reached the page');
    check((await readme.locator('a:text-is("bad link")').getAttribute('href')) === '#', 'a javascript: link kept its target');
    await accessible(page, `overview (${colorScheme})`);
    if (colorScheme === 'light') await shot(page, 'workspace');

    // Its states, and what the second changed (names only: no value, no secret).
    await page.click('nav.tabs a:text-is("States")');
    await page.waitForURL(/\/states$/);
    await accessible(page, `states (${colorScheme})`);
    const serials = (await page.locator('table.rows tbody a').allTextContents())
      .map((text) => Number(text.replace('Serial ', '')));
    check(serials.length === 2, `state versions: ${serials}`);
    await page.click(`table.rows tbody a:text-is("Serial ${Math.max(...serials)}")`);
    await page.waitForURL(/\/states\/sv-/);
    const changes = await page.textContent('section[aria-labelledby=changes]');
    check(changes.includes(`since serial ${Math.min(...serials)}`) && /added\s*terraform_data\.extra/.test(changes)
      && /changed\s*terraform_data\.site:\s*input, output/.test(changes), `state changes: ${changes}`);
    check(!(await page.content()).includes(secret) && !changes.includes('web2'), 'a value reached the state page');
    await accessible(page, `state (${colorScheme})`);
    if (colorScheme === 'light') {
      await shot(page, 'state');
      // The raw state file, named after the workspace and serial.
      const [download] = await Promise.all([page.waitForEvent('download'), page.click('a:text-is("Download state")')]);
      const serial = Math.max(...serials);
      check(download.suggestedFilename() === `web-${serial}.tfstate`, `state file named ${download.suggestedFilename()}`);
      const saved = JSON.parse(readFileSync(await download.path(), 'utf8'));
      check(saved.serial === serial && saved.resources.length === 2, `downloaded state: serial ${saved.serial}`);
    }
    // Any two versions: the first, compared with the latest.
    await page.click(`a:text-is("serial ${Math.min(...serials)}")`);
    await page.waitForURL(/\/states\/sv-[^?]+$/);
    check((await page.textContent('main')).includes('The first state of this workspace'), 'the first state has a predecessor');
    const latest = await page.locator('#since option', { hasText: `Serial ${Math.max(...serials)} ` }).getAttribute('value');
    await page.selectOption('#since', latest);
    await page.click('button:text-is("Compare")');
    await page.waitForURL(/since=sv-/);
    const reverse = await page.textContent('section[aria-labelledby=changes]');
    check(/removed\s*terraform_data\.extra/.test(reverse), `reverse changes: ${reverse}`);

    await page.click('nav.tabs a:text-is("Runs")');
    await page.waitForURL(/\/runs$/);
    await accessible(page, `runs (${colorScheme})`);
    await page.click('table.rows tbody a');
    await page.waitForURL(/\/runs\/run-/);
    const run = await page.textContent('main');
    check(run.includes('Apply complete!') && run.includes('Plan:'), `run page logs: ${run}`);
    // The newest run's plan, structured: what it adds and changes, attribute by attribute.
    const plan = await page.textContent('section[aria-labelledby=changes]');
    check(plan.includes('1 to add, 1 to change, 0 to destroy') && /create\s*terraform_data\.extra/.test(plan)
      && /update\s*terraform_data\.site/.test(plan) && /input\.name\s*"web"\s*"web2"/.test(plan)
      && !plan.includes('input.tags.tier'), `structured plan: ${plan}`);
    check(!(await page.content()).includes(secret), 'a sensitive value reached the run page');
    // Terraform's JSON lines arrive as their messages, summaries styled.
    check(await page.locator('pre.log span.log-summary').count() >= 2, 'log without its summaries');
    check(!run.includes('"@level"') && !run.includes('\u001b['), `raw JSON or escape codes in the page: ${run}`);
    // Its timeline: each status it went through, in order.
    const timeline = await page.locator('details.timeline li .status').allTextContents();
    check(timeline.indexOf('planning') >= 0 && timeline.indexOf('planning') < timeline.indexOf('applied'),
      `timeline: ${timeline}`);
    await accessible(page, `run (${colorScheme})`);
    if (colorScheme === 'light') await shot(page, 'run');

    // 360 px wide: nothing scrolls sideways.
    await page.setViewportSize({ width: 360, height: 740 });
    for (const path of ['/app/acme/workspaces', '/app/acme/workspaces/web', '/app/acme/workspaces/web/runs',
      '/app/acme/workspaces/web/settings', '/app/acme/workspaces/web/variables', '/app/acme/resources?q=terraform_data',
      '/app/account/tokens', '/app/acme/agent-pools']) {
      await page.goto(`${base}${path}`);
      const width = await page.evaluate(() => document.documentElement.scrollWidth);
      check(width <= 360, `${path} is ${width} px wide at 360 px: ${await overflowing(page)}`);
    }
    // The switcher open too.
    await page.click('.switcher summary');
    const opened = await page.evaluate(() => document.documentElement.scrollWidth);
    check(opened <= 360, `the open switcher is ${opened} px wide at 360 px`);
    await page.click('.switcher summary');
    // The agent pool prepared with a token and a workspace, narrow and in both schemes.
    await page.click('a:text-is("edge")');
    await page.waitForURL(/\/app\/acme\/agent-pools\/apool-/);
    check((await page.textContent('main')).includes('edge host'), 'the pool\'s token is not listed');
    check(await page.evaluate(() => document.documentElement.scrollWidth) <= 360, 'the pool page is too wide at 360 px');
    await page.setViewportSize({ width: 1280, height: 720 });
    await accessible(page, `agent pool (${colorScheme})`);
    if (colorScheme === 'light') await shot(page, 'agent-pool');

    await page.click('.sign-out button');
    await page.waitForURL(/\/app\/sign-in/);
    await page.goto(`${base}/app/organizations`);
    check(page.url().includes('/app/sign-in'), `still signed in after signing out: ${page.url()}`);
    await context.close();
  }

  // Confirm an apply in the browser and watch its log arrive live, without leaving the page.
  const alices = await browser.newContext();
  const alice = await signIn(alices, 'alice');
  await openRun(alice, 'slow');
  check(await status(alice) === 'planned', `slow run: ${await status(alice)}`);
  check(await alice.locator('button:text-is("Discard run")').count() === 1, 'no discard button');
  await accessible(alice, 'run waiting for confirmation');
  await shot(alice, 'confirm');
  await alice.click('button:text-is("Confirm & apply")');
  await alice.waitForURL(/\/runs\/run-[^/]+$/);
  await alice.evaluate(() => { window.sameDocument = true; });
  check(!(await alice.content()).includes('tick 3'), 'the apply was that far before the page loaded');
  await alice.locator('pre.log', { hasText: 'tick 3' }).waitFor({ timeout: 60000 });
  check(await alice.evaluate(() => window.sameDocument === true), 'the log arrived by reloading, not live');
  check(await settles(alice, ['applied']) === 'applied', 'the slow apply did not finish');
  check((await alice.textContent('main')).includes('tick 6'), 'the whole apply log is not there');

  // A plan streams into its page live: the run waits for its workspace's lock, the page is
  // opened, the workspace unlocked from its overview in another tab, and the plan's lines
  // appear in the first (the page reloads itself once the plan ends).
  await openRun(alice, 'queued');
  check(await status(alice) === 'pending', `queued run: ${await status(alice)}`);
  check((await alice.textContent('.queue')).includes("Next in this workspace's queue"), 'no queue position');
  await alice.evaluate(() => {
    sessionStorage.removeItem('live');
    const pre = document.querySelector('pre[data-stream]');
    new MutationObserver(() => {
      if (pre.textContent.includes('Plan:')) sessionStorage.setItem('live', '1');
    }).observe(pre, { childList: true, subtree: true, characterData: true });
  });
  const overview = await alices.newPage();
  await overview.goto(`${base}/app/acme/workspaces/queued`);
  check((await overview.textContent('main')).includes('held for the test'), 'the lock reason is not shown');
  await accessible(overview, 'a locked workspace');
  await overview.click('button:text-is("Unlock")');
  await overview.waitForLoadState();
  // Unlocked: the run takes the workspace at once (its lock says so), not the user's lock.
  check(!(await overview.textContent('main')).includes('held for the test'), 'the workspace did not unlock');
  let live = null;
  for (let i = 0; i < 120 && live !== '1'; i++) {
    await alice.waitForTimeout(500);
    live = await alice.evaluate(() => sessionStorage.getItem('live')).catch(() => null);
  }
  check(live === '1', 'the plan log never streamed into the open page');
  await settles(alice, ['planned']);
  await overview.close();

  // Cancel a run that would apply for minutes.
  await openRun(alice, 'stuck');
  await alice.click('button:text-is("Confirm & apply")');
  await alice.waitForURL(/\/runs\/run-[^/]+$/);
  await alice.locator('pre.log', { hasText: 'tick 1' }).waitFor({ timeout: 60000 });
  await alice.click('button:text-is("Cancel run")');
  await settles(alice, ['canceled', 'errored']);

  // A member who may only read sees no buttons, and is refused when posting anyway.
  const carols = await browser.newContext();
  const carol = await signIn(carols, 'carol');
  await openRun(carol, 'gated');
  check(await status(carol) === 'planned', `gated run: ${await status(carol)}`);
  check(await carol.locator('.run-actions button').count() === 0, 'a reader sees action buttons');
  const csrf = await carol.inputValue('.sign-out input[name=csrf]');
  for (const action of ['apply', 'discard', 'cancel']) {
    const forged = await carol.request.post(`${carol.url()}/actions/${action}`, { form: { csrf }, maxRedirects: 0 });
    check(forged.status() === 403, `carol's ${action} answered ${forged.status()}`);
  }
  await carol.reload();
  check(await status(carol) === 'planned', 'a reader changed the run');
  // Nor may carol change variables.
  await carol.goto(`${base}/app/acme/workspaces/gated/variables`);
  check(await carol.locator('form.stacked, .rows button').count() === 0, 'a reader sees variable forms');
  const forgedVar = await carol.request.post(`${base}/app/acme/workspaces/gated/variables`,
    { form: { csrf, key: 'sneaky', value: 'x', category: 'env' }, maxRedirects: 0 });
  check(forgedVar.status() === 403, `carol's new variable answered ${forgedVar.status()}`);
  check(!(await carol.reload().then(() => carol.content())).includes('sneaky'), 'a reader added a variable');
  // Her resource search finds what the workspaces she may read manage, and nothing of web's.
  await carol.goto(`${base}/app/acme/resources?q=terraform_data`);
  const hers = await carol.locator('table.rows tbody tr').allTextContents();
  check(hers.some((row) => row.includes('slow') && row.includes('terraform_data.wait'))
    && hers.every((row) => /slow|stuck|gated/.test(row) && !row.includes('terraform_data.site')),
  `carol's resource search: ${hers}`);
  // She reads the settings but may change none, nor delete the workspace.
  await carol.goto(`${base}/app/acme/workspaces/gated/settings`);
  check(await carol.locator('form.stacked fieldset[disabled]').count() === 1, 'a reader may edit settings');
  check(await carol.locator('button:text-is("Save settings"), button:text-is("Delete workspace")').count() === 0,
    'a reader sees the settings buttons');
  await accessible(carol, 'settings, read only');
  const settings = { csrf, name: 'gated', description: 'mine now', engine: 'terraform', terraform_version: 'latest',
    working_directory: '', execution_mode: '', agent_pool: '', tags: '' };
  for (const [path, form] of [['settings', settings],
    ['settings/delete', { csrf, confirm: 'gated', mode: 'force' }]]) {
    const forged = await carol.request.post(`${base}/app/acme/workspaces/gated/${path}`, { form, maxRedirects: 0 });
    check(forged.status() === 403, `carol's ${path} answered ${forged.status()}`);
  }
  check(!(await carol.goto(`${base}/app/acme/workspaces/gated`).then(() => carol.content())).includes('mine now'),
    'a reader changed the settings');
  await carols.close();
  // Its owner discards it.
  await openRun(alice, 'gated');
  await alice.click('button:text-is("Discard run")');
  await settles(alice, ['discarded']);
  await alices.close();

  // Create a workspace and set its variables, one sensitive, in the browser.
  const owner = await browser.newContext();
  const page = await signIn(owner, 'alice');
  await page.goto(`${base}/app/acme/workspaces`);
  await page.fill('#new-name', 'fresh');
  await page.click('button:text-is("Create workspace")');
  await page.waitForURL(/\/app\/acme\/workspaces\/fresh$/);
  await page.click('nav.tabs a:text-is("Variables")');
  await page.waitForURL(/\/variables$/);
  await accessible(page, 'variables');
  const addVariable = async (key, value, extra) => {
    await page.fill('#key', key);
    await page.fill('#value', value);
    for (const box of extra) await page.check(box);
    await page.click('button:text-is("Add variable")');
    await page.waitForLoadState();
  };
  await addVariable('region', 'eu-west-1', []);
  await addVariable('API_TOKEN', secret, ['input[name=sensitive]', 'input[name=category][value=env]']);
  const table = await page.textContent('table.rows');
  check(table.includes('region') && table.includes('eu-west-1') && table.includes('API_TOKEN')
    && table.includes('sensitive') && table.includes('env'), `variables: ${table}`);
  check(!(await page.content()).includes(secret), 'a sensitive variable reached the page');
  // The same key twice is refused, saying why, and adds nothing.
  await addVariable('region', 'us-east-1', []);
  check(await page.locator('[role=alert]').count() === 1, 'no message for a taken key');
  check(!(await page.content()).includes('us-east-1'), 'a refused variable was kept');
  await shot(page, 'variables');
  // Edit in place: a plain value changes; a sensitive one keeps its value when left blank.
  await page.click('a[aria-label="Edit region"]');
  await page.waitForURL(/\/variables\/var-/);
  await accessible(page, 'edit a variable');
  check(await page.inputValue('#value') === 'eu-west-1', 'the edit form lacks the value');
  await page.fill('#value', 'eu-central-1');
  await page.click('button:text-is("Save variable")');
  await page.waitForURL(/\/variables$/);
  check((await page.textContent('table.rows')).includes('eu-central-1'), 'the edited value is not shown');
  await page.click('a[aria-label="Edit API_TOKEN"]');
  await page.waitForURL(/\/variables\/var-/);
  check(await page.inputValue('#value') === '' && !(await page.content()).includes(secret), 'the edit form shows a sensitive value');
  await page.fill('#description', 'for the API');
  await page.click('button:text-is("Save variable")');
  await page.waitForURL(/\/variables$/);
  const edited = await page.textContent('table.rows');
  check(edited.includes('for the API') && edited.includes('sensitive'), `edited sensitive variable: ${edited}`);
  await page.click('button[aria-label="Delete region"]');
  await page.waitForLoadState();
  check(!(await page.textContent('main')).includes('eu-central-1'), 'the variable was not deleted');

  // Settings: change several, see them on the overview; a bad version is refused and
  // changes nothing; renaming moves the pages.
  await page.click('nav.tabs a:text-is("Settings")');
  await page.waitForURL(/\/settings$/);
  await accessible(page, 'settings');
  await page.fill('#description', 'The fresh one');
  await page.fill('#tag-list', 'team:web, prod');
  await page.check('input[name=auto_apply]');
  await page.selectOption('#execution_mode', 'local');
  await page.click('button:text-is("Save settings")');
  await page.waitForURL(/\/settings\?saved=1$/);
  check((await page.textContent('[role=status]')).includes('Settings saved'), 'no word that the settings were saved');
  await shot(page, 'settings');
  await page.fill('#terraform_version', 'not-a-version');
  await page.fill('#description', 'never saved');
  await page.click('button:text-is("Save settings")');
  await page.waitForLoadState();
  check((await page.textContent('[role=alert]')).includes('not-a-version'), 'no reason for a refused version');
  check(await page.inputValue('#description') === 'never saved', 'the refused form lost what was typed');
  await page.goto(`${base}/app/acme/workspaces/fresh`);
  const about = await page.textContent('main');
  check(about.includes('The fresh one') && about.includes('team:web') && about.includes('prod')
    && /Execution\s*local/.test(about) && about.includes('auto-apply') && !about.includes('never saved'), `overview after settings: ${about}`);
  await page.goto(`${base}/app/acme/workspaces/fresh/settings`);
  await page.fill('#name', 'fresh2');
  await page.click('button:text-is("Save settings")');
  await page.waitForURL(/\/workspaces\/fresh2\/settings\?saved=1$/);

  // Deletion: the name must be typed; a safe delete of a workspace that manages resources is
  // refused, a forced one goes through.
  await page.fill('#confirm', 'fresh');
  await page.click('button:text-is("Delete workspace")');
  await page.waitForLoadState();
  check((await page.textContent('[role=alert]')).includes("Type the workspace's name"), 'deleted without the name typed');
  await page.fill('#confirm', 'fresh2');
  await page.click('button:text-is("Delete workspace")');
  await page.waitForURL(/\/app\/acme\/workspaces$/);
  check(!(await page.textContent('main')).includes('fresh2'), 'the workspace was not deleted');
  await page.goto(`${base}/app/acme/workspaces/slow/settings`);
  check((await page.textContent('section.danger')).includes('It manages 1 resource'), 'no word of what it manages');
  await page.fill('#confirm', 'slow');
  await page.click('button:text-is("Delete workspace")');
  await page.waitForLoadState();
  check((await page.textContent('[role=alert]')).includes('still managing 1 resources'), 'a safe delete went through');
  await page.fill('#confirm', 'slow');
  await page.check('input[name=mode][value=force]');
  await page.click('button:text-is("Delete workspace")');
  await page.waitForURL(/\/app\/acme\/workspaces$/);
  check((await page.goto(`${base}/app/acme/workspaces/slow`)).status() === 404, 'the forced delete left the workspace');

  // Her API tokens: one made here acts as her with the API until revoked; its secret is shown
  // once, on a page no cache keeps.
  await page.goto(`${base}/app/organizations`);
  await page.click('.sign-out a.user');
  await page.waitForURL(/\/app\/account\/tokens$/);
  await accessible(page, 'tokens');
  await page.fill('#description', 'from the browser');
  await page.selectOption('#expires_in_days', '30');
  const [made] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith('/app/account/tokens') && r.request().method() === 'POST'),
    page.click('button:text-is("Create token")')]);
  check(made.headers()['cache-control'] === 'no-store', `the new token's page may be cached: ${made.headers()['cache-control']}`);
  const token = await page.inputValue('#secret');
  await accessible(page, 'a new token');
  const details = () => page.request.get(`${base}/api/v2/account/details`, { headers: { Authorization: `Bearer ${token}` } });
  const me = await details();
  check(me.status() === 200 && (await me.json()).data.attributes.username === 'alice', `the new token: ${me.status()}`);
  await page.goto(`${base}/app/account/tokens`);
  check(!(await page.content()).includes(token), 'a token secret was shown again');
  check((await page.textContent('table.rows')).includes('from the browser'), 'the new token is not listed');
  await page.click('button[aria-label="Revoke from the browser"]');
  await page.waitForURL(/\/app\/account\/tokens$/);
  check((await details()).status() === 401, 'a revoked token still works');

  // Agent pools: one made, and given a token, from the pages.
  await page.goto(`${base}/app/acme/workspaces`);
  await page.click('nav[aria-label=Organization] a:text-is("Agent pools")');
  await page.waitForURL(/\/app\/acme\/agent-pools$/);
  await page.fill('#name', 'browser-pool');
  await page.click('button:text-is("Create agent pool")');
  await page.waitForURL(/\/app\/acme\/agent-pools\/apool-/);
  await page.fill('#description', 'browser host');
  await page.click('button:text-is("Create token")');
  check((await page.inputValue('#secret')).length > 20, 'no agent token shown');
  check((await page.textContent('table[aria-labelledby=tokens]')).includes('browser host'), 'the agent token is not listed');
  await accessible(page, 'an agent pool with a new token');
  await page.goto(`${base}/app/acme/agent-pools`);
  check((await page.textContent('table.rows')).includes('browser-pool'), 'the pool is not listed');
  await accessible(page, 'agent pools');

  // A variable set: made, given a variable and applied to `web` from the pages; `web`'s
  // variables page then shows where the value comes from.
  await page.click('nav[aria-label=Organization] a:text-is("Variable sets")');
  await page.waitForURL(/\/app\/acme\/variable-sets$/);
  await page.fill('#name', 'browser-set');
  await page.click('button:text-is("Create variable set")');
  await page.waitForURL(/\/app\/acme\/variable-sets\/varset-/);
  await page.fill('#key', 'from_the_set');
  await page.fill('#value', 'set-value');
  await page.click('button:text-is("Add variable")');
  await page.waitForURL(/\/app\/acme\/variable-sets\/varset-[^/]+$/);
  await page.fill('#apply-workspace', 'web');
  await page.click('button:text-is("Apply to workspace")');
  await page.waitForURL(/\/app\/acme\/variable-sets\/varset-[^/]+$/);
  check((await page.textContent('ul[aria-labelledby=applied]')).includes('web'), 'the set is not applied to web');
  await accessible(page, 'a variable set');
  await shot(page, 'variable-set');
  await page.goto(`${base}/app/acme/workspaces/web/variables`);
  const inherited = await page.textContent('table[aria-labelledby=from-sets]');
  check(inherited.includes('from_the_set') && inherited.includes('browser-set'), `web's variables from sets: ${inherited}`);
  await accessible(page, 'variables with a set');

  // People: a team made from the page, given read access to `web` on its Access tab.
  await page.goto(`${base}/app/acme/workspaces`);
  await page.click('nav[aria-label=Organization] a:text-is("People")');
  await page.waitForURL(/\/app\/acme\/people$/);
  check((await page.textContent('table[aria-labelledby=members]')).includes('carol'), 'carol is not listed as a member');
  await accessible(page, 'people');
  await page.fill('#team-name', 'browser-team');
  await page.click('button:text-is("Create team")');
  await page.waitForURL(/\/app\/acme\/teams\/team-/);
  await page.selectOption('#username', 'carol');
  await page.click('button:text-is("Add to team")');
  await page.waitForURL(/\/app\/acme\/teams\/team-[^/]+$/);
  check((await page.textContent('ul[aria-labelledby=members]')).includes('carol'), 'carol is not on the team');
  await accessible(page, 'a team');
  await shot(page, 'team');
  await page.goto(`${base}/app/acme/workspaces/web/access`);
  await page.selectOption('#team', { label: 'browser-team' });
  await page.click('button:text-is("Give access")');
  await page.waitForURL(/\/workspaces\/web\/access$/);
  check((await page.textContent('table.rows')).includes('browser-team'), 'the grant is not listed');
  await accessible(page, 'workspace access');
  // A project: made from its page, given a workspace and browser-team's access.
  await page.goto(`${base}/app/acme/workspaces`);
  await page.click('nav[aria-label=Organization] a:text-is("Projects")');
  await page.waitForURL(/\/app\/acme\/projects$/);
  await accessible(page, 'projects');
  await page.fill('#name', 'Browser project');
  await page.fill('#description', 'made in the browser');
  await page.click('button:text-is("Create project")');
  await page.waitForURL(/\/app\/acme\/projects\/prj-[^/]+$/);
  const projectPage = page.url();
  await page.fill('#new-workspace', 'in-project');
  await page.click('button:text-is("Create workspace")');
  await page.waitForURL(/\/workspaces\/in-project$/);
  await page.goto(projectPage);
  check((await page.textContent('ul[aria-labelledby=workspaces]')).includes('in-project'), 'the project does not list its workspace');
  await page.selectOption('#execution_mode', 'local');
  await page.click('button:text-is("Save settings")');
  await page.waitForURL(/\?saved=1$/);
  check((await page.textContent('dl.facts')).includes('local'), 'the project\'s execution mode is not shown');
  await accessible(page, 'a project');
  await shot(page, 'project');
  await page.click('nav[aria-label=Project] a:text-is("Access")');
  await page.selectOption('#team', { label: 'browser-team' });
  await page.check('input[name=access][value=maintain]');
  await page.click('button:text-is("Give access")');
  await page.waitForURL(/\/projects\/prj-[^/]+\/access$/);
  check((await page.textContent('table.rows')).includes('browser-team'), 'the project grant is not listed');
  await accessible(page, 'project access');
  const projectPaths = [new URL(projectPage).pathname, `${new URL(projectPage).pathname}/access`];
  // The registry: the module's page from the list.
  await page.goto(`${base}/app/acme/workspaces`);
  await page.click('nav[aria-label=Organization] a:text-is("Registry")');
  await page.waitForURL(/\/app\/acme\/registry$/);
  await accessible(page, 'the registry');
  await page.click('a:text-is("network")');
  await page.waitForURL(/\/registry\/modules\/network\/aws$/);
  check((await page.textContent('pre.snippet')).includes('/acme/network/aws'), 'the module page has no source');
  check((await page.textContent('div.readme')).includes('its subnets'), 'the module page has no README');
  await accessible(page, 'a module');
  await shot(page, 'registry-module');
  await page.goto(`${base}/app/acme/settings`);
  check((await page.inputValue('#email')) === 'acme@example.com', 'the organization settings form is not filled');
  await accessible(page, 'organization settings');

  await page.setViewportSize({ width: 360, height: 740 });
  for (const path of ['/app/acme/variable-sets', '/app/acme/workspaces/web/variables', '/app/acme/people',
    '/app/acme/workspaces/web/access', '/app/acme/settings', '/app/acme/projects', ...projectPaths, '/app/acme/registry',
    '/app/acme/registry/modules/network/aws']) {
    await page.goto(`${base}${path}`);
    check(await page.evaluate(() => document.documentElement.scrollWidth) <= 360, `${path} is too wide at 360 px`);
  }
  await owner.close();

  // The site administration area, for dave.
  const daves = await browser.newContext();
  const dave = await signIn(daves, 'dave');
  await dave.click('a:text-is("Site admin")');
  await dave.waitForURL(/\/app\/admin\/users$/);
  check((await dave.textContent('table.rows')).includes('carol@terrace.local'), 'the users are not listed');
  await accessible(dave, 'site admin users');
  await shot(dave, 'admin-users');
  await dave.click('nav[aria-label="Site administration"] a:text-is("Organizations")');
  await dave.waitForURL(/\/app\/admin\/organizations$/);
  check((await dave.textContent('table.rows')).includes('bobco'), 'the organizations are not listed');
  await accessible(dave, 'site admin organizations');
  await dave.setViewportSize({ width: 360, height: 740 });
  for (const path of ['/app/admin/users', '/app/admin/organizations']) {
    await dave.goto(`${base}${path}`);
    check(await dave.evaluate(() => document.documentElement.scrollWidth) <= 360, `${path} is too wide at 360 px`);
  }
  await daves.close();

  // Another organization's member sees nothing of acme.
  const bobs = await browser.newContext();
  const bob = await signIn(bobs, 'bob');
  for (const path of ['/app/acme/workspaces', '/app/acme/workspaces/web', '/app/acme/workspaces/web/runs',
    '/app/acme/workspaces/web/settings', '/app/acme/resources?q=terraform_data']) {
    const response = await bob.goto(`${base}${path}`);
    check(response.status() === 404, `bob got ${response.status()} for ${path}`);
    check(!(await bob.content()).includes('https://web.example'), `bob saw acme's outputs at ${path}`);
  }
  await bobs.close();
  console.log('web UI: all checks passed');
} catch (error) {
  console.error(`web UI: ${error.stack || error}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
