"""What the browser tests and bench/widget.py share: Debian's Chromium under Playwright, a static page
server on localhost, and the pages that embed the widget as a shop would.

A member page runs the real Wix snippet (wix-app/embedded-script.html): its `{{placeholders}}` are
filled as Wix fills them, its `@wix/sdk` and `@wix/site` imports resolve (through an import map) to
small stand-ins that behave as Wix's packages do — `fetchWithAuth` waits for the token function Wix
hands to the exported `injectAccessTokenFunction`, then sends the token in `Authorization` — and the
page plays Wix's runtime, injecting a token the fake Wix minted.
"""

from __future__ import annotations

import html
import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SNIPPET = ROOT / "wix-app" / "embedded-script.html"
AXE = Path(__file__).resolve().parent / "vendor" / "axe.min.js"

# Stand-ins for Wix's packages, shaped after @wix/site's `site.auth()` and @wix/sdk's `createClient`.
WIX_SITE_STUB = """
// Wix's own package sends the bare token (`Authorization: <token>`); `?scheme=Bearer` prefixes it.
const scheme = new URL(import.meta.url).searchParams.get("scheme");
export const site = {
  host: (options) => ({ applicationId: options && options.applicationId }),
  auth: () => {
    let resolveTokenFn;
    const tokenFn = new Promise((resolve) => { resolveTokenFn = resolve; });
    return {
      getAuthHeaders: async () => {
        const token = await (await tokenFn)();
        return { headers: { Authorization: scheme ? `${scheme} ${token}` : token } };
      },
      getAccessTokenInjector: () => (getAccessToken) => resolveTokenFn(getAccessToken),
    };
  },
};
"""
WIX_SDK_STUB = """
export function createClient({ auth }) {
  return {
    auth,
    async fetchWithAuth(url, init) {
      const { headers } = await auth.getAuthHeaders();
      return fetch(url, { ...init, headers: { ...((init && init.headers) || {}), ...headers } });
    },
  };
}
"""


def chromium_missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if not CHROMIUM.exists():
        return f"no Chromium at {CHROMIUM} (Debian's `chromium` package; .ci/run installs it)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (pip install -e '.[dev]')"
    return None


@dataclass
class PageServer:
    """Serves registered pages and scripts on 127.0.0.1: another origin than the service, as a shop is."""

    routes: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    server: ThreadingHTTPServer | None = None

    @property
    def origin(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def add(self, path: str, body: str | bytes, content_type: str = "text/html; charset=utf-8") -> str:
        self.routes[path] = (body.encode() if isinstance(body, str) else body, content_type)
        return f"{self.origin}{path}"

    def start(self) -> PageServer:
        routes = self.routes

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                found = routes.get(self.path.split("?")[0])
                if found is None:
                    self.send_error(404)
                    return
                body, content_type = found
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
        self.add("/favicon.ico", b"", "image/x-icon")  # so the console shows no 404 of its own
        self.add("/stub/wix-site.js", WIX_SITE_STUB, "text/javascript")
        self.add("/stub/wix-sdk.js", WIX_SDK_STUB, "text/javascript")
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


@dataclass(frozen=True)
class Embed:
    """The four ids the snippet takes and the service's origin."""

    api: str
    account: str
    template: str = "default"
    theme: str = "default"
    floating_widget: str = "default"


def shop_page(*, lang: str | None = "en", host_css: str = "", head: str = "", body: str = "") -> str:
    """A shop's page: a heading, a paragraph and a button of its own, then `body`."""
    lang_attr = f' lang="{html.escape(lang)}"' if lang is not None else ""
    return f"""<!doctype html>
<html{lang_attr}><head><meta charset="utf-8"><title>A shop</title>
<style>{host_css}</style>{head}</head>
<body><main><h1>A shop</h1><p id="host-text">Shoes and shirts.</p>
<button type="button" id="host-button">Add to cart</button></main>
{body}</body></html>"""


def guest_page(embed: Embed, *, lang: str | None = "en", host_css: str = "", script_src: str = "") -> str:
    """The one-tag embed from docs/widget-api.md."""
    src = script_src or f"{embed.api}/widget/v1/widget.js"
    tag = (
        f'<script async src="{html.escape(src)}" data-account-id="{html.escape(embed.account)}" '
        f'data-template-id="{html.escape(embed.template)}" data-theme-id="{html.escape(embed.theme)}" '
        f'data-floating-widget-id="{html.escape(embed.floating_widget)}"></script>'
    )
    return shop_page(lang=lang, host_css=host_css, body=tag)


def element_page(attributes: dict[str, str], script_src: str, session: dict[str, Any] | None = None) -> str:
    """A page that creates the element itself with `attributes` and `session` (as the snippet does),
    then loads widget.js from `script_src`."""
    create = (
        "const widget = document.createElement('wix-rewards-widget');"
        f"for (const [name, value] of Object.entries({json.dumps(attributes)}))"
        " widget.setAttribute(name, value);"
        f"widget.session = {json.dumps(session)};"
        "document.body.append(widget);"
    )
    return shop_page(body=f'<script>{create}</script><script async src="{html.escape(script_src)}"></script>')


def fill_snippet(embed: Embed) -> tuple[str, str]:
    """The snippet with its placeholders filled as Wix fills them: (its HTML without the module
    script, the module's source)."""
    text = SNIPPET.read_text()
    values = {
        "host": embed.api,
        "accountId": embed.account,
        "templateId": embed.template,
        "themeId": embed.theme,
        "floatingWidgetId": embed.floating_widget,
    }
    placeholders = set(re.findall(r"\{\{(\w+)\}\}", text))
    assert placeholders == set(values), f"the snippet's placeholders are {sorted(placeholders)}"
    for name, value in values.items():
        text = text.replace("{{" + name + "}}", html.escape(value))
    match = re.search(r"<script[^>]*\baccesstoken=\"true\"[^>]*>(.*?)</script>", text, re.S)
    assert match is not None, "the snippet has no accesstoken module script"
    return text[: match.start()] + text[match.end() :], match.group(1)


def member_page(
    pages: PageServer,
    name: str,
    embed: Embed,
    wix_token: str | None,
    *,
    lang: str | None = "en",
    bearer: bool = False,
) -> str:
    """A page running the real snippet; the page injects `wix_token` as Wix's runtime would (None: a
    visitor Wix gives no token to). The session request carries the bare token in `Authorization`, as
    Wix's `fetchWithAuth` sends it, or with `bearer` as `Bearer <token>`. Returns the page's URL."""
    markup, module = fill_snippet(embed)
    module_url = pages.add(f"/{name}/snippet.js", module, "text/javascript")
    site = "/stub/wix-site.js?scheme=Bearer" if bearer else "/stub/wix-site.js"
    imports = {"@wix/site": site, "@wix/sdk": "/stub/wix-sdk.js"}
    head = f'<script type="importmap">{json.dumps({"imports": imports})}</script>'
    runtime = f"""<script type="module">
  const snippet = await import({json.dumps(module_url)});
  const token = {json.dumps(wix_token)};
  snippet.injectAccessTokenFunction(async () => {{
    performance.mark("wix-token-asked");
    if (token === null) throw new Error("no Wix token for this visitor");
    return token;
  }});
</script>"""
    return pages.add(f"/{name}", shop_page(lang=lang, head=head, body=markup + runtime))


@contextmanager
def chromium() -> Iterator[Any]:
    """Debian's Chromium under Playwright: (playwright, browser)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS, timeout=30_000)
        try:
            yield browser
        finally:
            browser.close()


def serious_violations(page: Any, axe: str) -> list[tuple[str, Any]]:
    """axe-core's serious and critical violations on `page` (axe's script text injected first), each as
    its rule id and the nodes it names."""
    page.add_script_tag(content=axe)
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [
        (v["id"], [node["target"] for node in v["nodes"]])
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
