import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { createServer as createTcpServer } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { htmlToText } from '../../src/agents/tools/html-text.ts';
import { parseSearchResults } from '../../src/agents/tools/parse-search-results.ts';
import { markUntrusted, searchUrl, searchWebTool } from '../../src/agents/tools/search-web.ts';

let server: Server;
let base: string;
let deadPort: number;
const sockets = new Set<Socket>();
const seenQueries: string[] = [];

function resultsPage(withHang: boolean): string {
  const wrap = (u: string) => `//duckduckgo.com/l/?uddg=${encodeURIComponent(u)}&amp;rut=abc`;
  return `<!DOCTYPE html><html><head><title>x at DuckDuckGo</title></head><body>
  <div class="result results_links web-result"><div class="links_main result__body">
    <h2 class="result__title"><a rel="nofollow" class="result__a" href="${wrap(`${base}/page/one`)}">First &amp; <b>best</b> result</a></h2>
    <a class="result__snippet" href="${wrap(`${base}/page/one`)}">Snippet <b>one</b> &#8211; details</a>
  </div></div>
  <div class="result"><h2><a href="${base}/page/two" class="result__a">Second result</a></h2>
    <div class="result__snippet">Snippet two</div></div>
  <div class="result"><h2><a class="result__a" href="${base}/page/two">Duplicate of second</a></h2></div>
  <div class="result"><h2><a class="result__a" href="javascript:alert(1)">Not http</a></h2></div>
  ${withHang ? `<div class="result"><h2><a class="result__a" href="${base}/page/hang">Hanging page</a></h2></div>` : ''}
  <div class="result"><h2><a class="result__a" href="http://127.0.0.1:${deadPort}/gone">Dead link</a></h2></div>
  <div class="result"><h2><a class="result__a" href="${base}/page/pdf">A PDF</a></h2></div>
  </body></html>`;
}

before(async () => {
  const probe = createTcpServer();
  probe.listen(0, '127.0.0.1');
  await once(probe, 'listening');
  deadPort = (probe.address() as AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));

  server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', base);
    if (url.pathname === '/html/') {
      const q = url.searchParams.get('q') ?? '';
      seenQueries.push(q);
      if (q === 'blocked') {
        res.writeHead(403).end('no bots');
        return;
      }
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(q === 'nothing' ? '<html><body>No results.</body></html>' : resultsPage(q.includes('hang')));
      return;
    }
    if (url.pathname === '/page/one') {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end(
        `<html><head><style>.x{color:red}</style><script>var secret = 1;</script></head><body><nav>Menu</nav><!-- hidden -->
         <p>The   quick&nbsp;brown fox</p>\n<p>${'word '.repeat(400)}</p></body></html>`,
      );
      return;
    }
    if (url.pathname === '/page/two') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('  plain   text page  ');
      return;
    }
    if (url.pathname === '/page/pdf') {
      res.writeHead(200, { 'content-type': 'application/pdf' });
      res.end('%PDF-1.4');
      return;
    }
    if (url.pathname === '/page/hang') return; // never answers
    res.writeHead(404).end();
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  const closed = once(server, 'close');
  server.close();
  for (const s of sockets) s.destroy();
  await closed;
});

const ctx = () => ({ signal: new AbortController().signal, workspace: '/nonexistent' });

describe('search_web', { timeout: 30_000 }, () => {
  it('parses results, fetches pages with timeouts and returns trimmed text', async () => {
    // Generous bounds: only the page that never answers may hit its timeout (no timing asserts).
    const tool = searchWebTool({
      endpoint: `${base}/html/?q=`,
      timeoutMs: 10_000,
      pageTimeoutMs: 2000,
      maxPageChars: 60,
    });
    const out = JSON.parse(
      await tool.execute({ query: 'fox & friends hang', max_results: 10 }, ctx()),
    ) as Array<Record<string, string>>;
    assert.equal(seenQueries.at(-1), 'fox & friends hang');
    assert.deepEqual(
      out.map((r) => r.title),
      ['First & best result', 'Second result', 'Hanging page', 'Dead link', 'A PDF'],
    );
    const [one, two, hang, dead, pdf] = out;
    assert.equal(one!.url, `${base}/page/one`);
    assert.equal(one!.snippet, 'Snippet one – details');
    assert.equal(
      one!.content,
      markUntrusted(`${`Menu The quick brown fox ${'word '.repeat(40)}`.slice(0, 60)}...`),
    );
    assert.ok(!one!.content!.includes('secret'));
    assert.equal(two!.snippet, 'Snippet two');
    assert.equal(two!.content, markUntrusted('plain text page'));
    assert.match(hang!.content!, /^Could not fetch content: no answer within 2000 ms/);
    // Another port on loopback is not the endpoint's origin: refused before any connection.
    assert.match(dead!.content!, /^Could not fetch content: refused: 127\.0\.0\.1 is a loopback address/);
    assert.match(pdf!.content!, /unsupported content type application\/pdf/);
  });

  it('honours max_results and the configured default', async () => {
    const tool = searchWebTool({
      endpoint: `${base}/html/?q={query}&kl=us`,
      maxResults: 1,
      fetchPages: false,
    });
    const one = JSON.parse(await tool.execute({ query: 'q' }, ctx()));
    assert.equal(one.length, 1);
    assert.equal(one[0].content, undefined);
    const two = JSON.parse(await tool.execute({ query: 'q', max_results: 2 }, ctx()));
    assert.equal(two.length, 2);
  });

  it('reports failure as data: closed port, HTTP error, no results', async () => {
    const dead = searchWebTool({ endpoint: `http://127.0.0.1:${deadPort}/html/?q=` });
    const a = JSON.parse(await dead.execute({ query: 'x' }, ctx()));
    assert.match(a[0].error, /^Search failed: http:\/\/127\.0\.0\.1:\d+\/html\/: ECONNREFUSED/);

    const live = searchWebTool({ endpoint: `${base}/html/?q=` });
    assert.match(JSON.parse(await live.execute({ query: 'blocked' }, ctx()))[0].error, /HTTP 403/);
    assert.match(
      JSON.parse(await live.execute({ query: 'nothing' }, ctx()))[0].error,
      /no results found for "nothing"/,
    );
  });

  it('rethrows an abort of the agent instead of reporting it as data', async () => {
    const controller = new AbortController();
    controller.abort();
    const tool = searchWebTool({ endpoint: `${base}/html/?q=` });
    await assert.rejects(tool.execute({ query: 'x' }, { signal: controller.signal, workspace: '/' }), {
      name: 'AbortError',
    });
  });

  it('validates max_results', () => {
    const tool = searchWebTool();
    assert.equal(tool.parameters.safeParse({ query: 'x', max_results: 0 }).success, false);
    assert.equal(tool.parameters.safeParse({ query: 'x', max_results: 11 }).success, false);
    assert.equal(tool.parameters.safeParse({ query: 'x', max_results: 3 }).success, true);
  });
});

describe('search helpers', () => {
  it('builds URLs with {query} or by appending', () => {
    assert.equal(
      searchUrl('https://html.duckduckgo.com/html/?q=', 'a b/c'),
      'https://html.duckduckgo.com/html/?q=a%20b%2Fc',
    );
    assert.equal(searchUrl('http://h/s?q={query}&n=1', 'x&y'), 'http://h/s?q=x%26y&n=1');
  });

  it('strips tags, scripts, comments and decodes entities', () => {
    assert.equal(
      htmlToText('<p>a&lt;b &#x27;c&#39; &unknown; <script>x</script><!-- c -->d</p>'),
      "a<b 'c' &unknown; d",
    );
  });

  it('ignores non-http links and unwraps DuckDuckGo redirects', () => {
    const html =
      '<a class="result__a" href="file:///etc/passwd">f</a><a class="result__a" href="/l/?uddg=https%3A%2F%2Fex.com%2Fp">ok</a>';
    assert.deepEqual(parseSearchResults(html, 'https://html.duckduckgo.com/html/?q=x', 5), [
      { title: 'ok', url: 'https://ex.com/p', snippet: '' },
    ]);
  });
});
