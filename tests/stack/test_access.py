"""Single sign-on against a real OpenID provider, and cross-site writes in a
real browser.

The provider is panva's oidc-provider (npm, tests/stack/oidc), on loopback,
with one client (em-metrics) and three users: `reader` (in the read group),
`admin` (in the admin group) and `outsider` (in neither). Its development
login form takes any password. The sign-in is driven over plain HTTP (every
redirect visible) and in Debian's Chromium through Selenium.
"""
import contextlib
import http.cookiejar as cookiejar
import http.server as httpserver
import os
import re
import shutil
import subprocess
import threading
import urllib.error
import urllib.parse
import urllib.request

import pytest

from conftest import ROOT, em_metrics, free_port, http, wait_until
from test_ui_browser import chrome, need, tools

TOKEN = "access-test-token-4e1"
PROVIDER = ROOT / "tests/stack/oidc/provider.mjs"
PROVIDER_MODULES = ROOT / "tests/stack/oidc/node_modules/oidc-provider"
CLIENT_ID, CLIENT_SECRET = "em-metrics", "em-metrics-client-secret-6b0"

try:
    from selenium.webdriver.common.by import By
except ImportError:  # reported by tools()
    By = None


@contextlib.contextmanager
def provider(redirect_uri):
    """oidc-provider on a free loopback port until the block ends; yields its issuer."""
    need(shutil.which("node") is not None, "node")
    need(PROVIDER_MODULES.exists(), "oidc-provider (npm, tests/stack/oidc)")
    port = free_port()
    env = {**os.environ, "PORT": str(port), "CLIENT_ID": CLIENT_ID, "CLIENT_SECRET": CLIENT_SECRET,
           "REDIRECT_URI": redirect_uri}
    proc = subprocess.Popen(["node", str(PROVIDER)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    issuer = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: http("GET", f"{issuer}/.well-known/openid-configuration")[0] == 200, 30,
                   "oidc-provider ready")
        yield issuer
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@pytest.fixture(scope="module")
def sso(tmp_path_factory):
    """em-metrics with SSO against the provider; yields em-metrics' base URL."""
    folder = tmp_path_factory.mktemp("sso")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with provider(f"{base}/ui/oidc/callback") as issuer:
        env = {"EM_METRICS_OIDC_ISSUER": issuer, "EM_METRICS_OIDC_CLIENT_ID": CLIENT_ID,
               "EM_METRICS_OIDC_CLIENT_SECRET": CLIENT_SECRET, "EM_METRICS_PUBLIC_URL": base,
               "EM_METRICS_OIDC_READ_GROUPS": "metrics-readers", "EM_METRICS_OIDC_ADMIN_GROUPS": "metrics-admins"}
        with em_metrics_on(folder, port, env) as started:
            assert started == base
            yield base


@contextlib.contextmanager
def em_metrics_on(folder, port, env):
    """em_metrics() on a chosen port: the provider must know the redirect URI first."""
    with em_metrics(folder, TOKEN, env=env, port=port) as (base, _):
        yield base


class Stop(urllib.request.HTTPRedirectHandler):
    """Follows redirects, except the one back to em-metrics' callback."""

    def __init__(self, callback):
        self.callback = callback
        self.reached = None

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        if newurl.startswith(self.callback):
            self.reached = newurl
            return None
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def browser_session(base, stop_at_callback=False):
    jar = cookiejar.CookieJar()
    stop = Stop(f"{base}/ui/oidc/callback") if stop_at_callback else urllib.request.HTTPRedirectHandler()
    return jar, urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), stop), stop


def submit(opener, html, fields):
    """Posts the page's form with its hidden fields and `fields`."""
    form = re.search(r'<form[^>]*action="([^"]+)"[^>]*method="post"[^>]*>(.*?)</form>', html, re.S)
    assert form, html[:500]
    data = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form.group(2)))
    data.update(fields)
    request = urllib.request.Request(form.group(1), data=urllib.parse.urlencode(data).encode(), method="POST")
    return opener.open(request, timeout=30)


def open_status(opener, url):
    try:
        with opener.open(url, timeout=30) as r:
            return r.status, r.url, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.url, e.read().decode()


def sign_in_over_http(base, login, to_callback=False):
    """The provider's login and consent for `login`; with `to_callback`,
    stops at the redirect to the callback and returns its URL."""
    jar, opener, stop = browser_session(base, stop_at_callback=to_callback)
    page = opener.open(f"{base}/ui/oidc/login", timeout=30)
    assert page.url.startswith("http://127.0.0.1") and "/interaction/" in page.url, page.url
    consent = submit(opener, page.read().decode(), {"login": login, "password": "any"})
    try:
        done = submit(opener, consent.read().decode(), {})
        return jar, opener, (stop.reached if to_callback else done)
    except urllib.error.HTTPError as e:
        if to_callback and stop.reached:
            return jar, opener, stop.reached
        return jar, opener, e


def session_cookie(jar):
    return next((c for c in jar if c.name == "em_metrics_session"), None)


def test_a_reader_and_an_admin_sign_in_over_plain_http_and_an_outsider_is_refused(sso):
    base = sso
    jar, opener, done = sign_in_over_http(base, "reader")
    assert done.url == f"{base}/ui", done.url
    page = done.read().decode()
    assert "sso:reader@example.com · read" in page
    assert 'href="/ui/tokens"' not in page
    assert session_cookie(jar) is not None
    status, _, _ = open_status(opener, f"{base}/ui/tokens")
    assert status == 403, "a reader has no Tokens page"

    jar, opener, done = sign_in_over_http(base, "admin")
    page = done.read().decode()
    assert "sso:admin@example.com · admin" in page and 'href="/ui/tokens"' in page
    status, _, tokens_page = open_status(opener, f"{base}/ui/tokens")
    assert status == 200 and "New token" in tokens_page

    jar, opener, refused = sign_in_over_http(base, "outsider")
    assert isinstance(refused, urllib.error.HTTPError) and refused.code == 403, refused
    assert "not in a group allowed" in refused.read().decode()
    assert session_cookie(jar) is None, "no session"

    status, log = http("GET", f"{base}/audit?limit=10", token=TOKEN)
    assert status == 200
    seen = [(r["actor"], r["route"], r["status"]) for r in log]
    assert ("sso:admin@example.com", "/ui/oidc/callback", 303) in seen, seen
    assert ("sso:reader@example.com", "/ui/oidc/callback", 303) in seen, seen
    assert ("sso:outsider@example.com", "/ui/oidc/callback", 403) in seen, seen


def test_a_wrong_replayed_or_foreign_state_and_a_bad_code_start_no_session(sso):
    base = sso
    jar, opener, callback = sign_in_over_http(base, "reader", to_callback=True)
    assert callback and "code=" in callback and "state=" in callback, callback
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(callback).query)

    # Another browser (no state cookie) with the same link: 400, no session.
    other_jar, other, _ = browser_session(base)
    status, _, text = open_status(other, callback)
    assert status == 400 and "Start again" in text
    assert session_cookie(other_jar) is None

    # A wrong state in this browser: 400.
    wrong = callback.replace(f"state={query['state'][0]}", "state=forged")
    status, _, _ = open_status(opener, wrong)
    assert status == 400 and session_cookie(jar) is None

    # The real callback: signed in.
    status, url, _ = open_status(opener, callback)
    assert (status, url) == (200, f"{base}/ui") and session_cookie(jar) is not None

    # Replayed: the state was used.
    status, _, _ = open_status(opener, callback)
    assert status == 400

    # A state that checks out with a code the provider never issued: the
    # exchange fails, 401, no session.
    jar, opener, callback = sign_in_over_http(base, "reader", to_callback=True)
    bad_code = re.sub(r"code=[^&]+", "code=made-up", callback)
    status, _, text = open_status(opener, bad_code)
    assert status == 401 and "could not be verified" in text
    assert session_cookie(jar) is None


def test_the_whole_sign_in_in_a_real_browser(sso):
    tools()
    base = sso
    driver = chrome()
    try:
        driver.get(f"{base}/ui")
        wait_until(lambda: driver.current_url.endswith("/ui/login"), 10, "the sign-in page")
        driver.find_element(By.LINK_TEXT, "Sign in with SSO").click()
        wait_until(lambda: driver.find_elements(By.NAME, "login"), 15, "the provider's login form")
        driver.find_element(By.NAME, "login").send_keys("admin")
        driver.find_element(By.NAME, "password").send_keys("any")
        driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        wait_until(lambda: "Continue" in driver.page_source, 15, "the consent page")
        driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        wait_until(lambda: driver.current_url == f"{base}/ui", 15, "back on the dashboard")
        assert driver.find_elements(By.CSS_SELECTOR, "article.tile")
        assert "sso:admin@example.com" in driver.find_element(By.CSS_SELECTOR, ".who").text
        cookie = next(c for c in driver.get_cookies() if c["name"] == "em_metrics_session")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        driver.find_element(By.CSS_SELECTOR, "form.signout button").click()
        wait_until(lambda: driver.current_url.endswith("/ui/login"), 10, "signed out")
        driver.get(f"{base}/ui")
        assert driver.current_url.endswith("/ui/login"), "the session ended"
    finally:
        driver.quit()


EVIL_PAGE = """<!doctype html><html><body>
<form id="f" method="post" action="{target}" enctype="text/plain">
<input name='{{"project_id":"api","title":"forged","x":"' value='"}}'>
</form>
<script>document.getElementById('f').submit();</script>
</body></html>"""


@contextlib.contextmanager
def evil_site(target):
    """Another site (localhost, not 127.0.0.1) whose page posts a hidden form to `target`."""
    page = EVIL_PAGE.format(target=target).encode()

    class Handler(httpserver.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args):
            pass

    server = httpserver.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://localhost:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def test_a_hidden_form_on_another_site_cannot_write_through_the_browsers_basic_auth(tmp_path):
    tools()
    env = {"EM_METRICS_TOKEN_AUTH": TOKEN, "EM_METRICS_BASIC_AUTH_USERNAME": "viewer",
           "EM_METRICS_BASIC_AUTH_PASSWORD": "s3cret-pw"}
    with em_metrics(tmp_path, TOKEN, env=env) as (base, _):
        host = base.removeprefix("http://")
        driver = chrome()
        try:
            # The browser signs in with basic auth, as the dashboard asks it to.
            driver.get(f"http://viewer:s3cret-pw@{host}/ui")
            # The credentials are cached now: the page without them in its URL.
            driver.get(f"{base}/ui")
            assert driver.find_elements(By.CSS_SELECTOR, "article.tile")
            # Its own origin may write with those credentials (this is what
            # the forged form tries to borrow).
            fetch = """const done = arguments[arguments.length - 1];
                fetch('/incidents', {method: 'POST', body: '{"project_id":"api","title":"own"}'})
                  .then(r => done(r.status), e => done(String(e)));"""
            assert driver.execute_async_script(fetch) == 201
            with evil_site(f"{base}/incidents") as evil:
                driver.get(evil)
                wait_until(lambda: driver.current_url.startswith(base), 15, "the forged form submitted")
                wait_until(lambda: "forbidden" in driver.page_source, 15, "the answer shown")
                assert "another" in driver.page_source or "cross-site" in driver.page_source
        finally:
            driver.quit()
        status, incidents = http("GET", f"{base}/incidents", token=TOKEN)
        assert status == 200
        assert [i["title"] for i in incidents] == ["own"], "the forged incident was not written"
