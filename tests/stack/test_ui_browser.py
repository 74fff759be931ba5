"""The dashboard in a real browser: Debian's Chromium driven by Selenium,
against the release binary serving the demo database.

Checks what a person would see: the tiles equal /dora for the same window,
filters, the breakdown, escaping, the token login and its cookie, basic auth,
the page without JavaScript, axe-core's accessibility rules, speed, and that
nothing is requested from another origin. Screenshots (1280x800 and 360x740,
light and dark) go to a folder the test prints; nothing compares pixels.
"""
import json
import math
import os
import pathlib
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from conftest import ROOT, em_metrics, http, wait_until

TOKEN = "ui-browser-token-8d2"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
AXE = ROOT / "tests/stack/ui/node_modules/axe-core/axe.min.js"
REQUIRED = os.environ.get("EM_METRICS_REQUIRE_TOOLS") == "1"
SCREENSHOTS = pathlib.Path(os.environ.get("EM_METRICS_SCREENSHOTS", ROOT / "target/ui-screenshots"))
SCRIPT_TITLE = "<script>alert(1)</script>"
# The tiles and the /dora field each shows.
TILES = {
    "deployment_frequency": ("deployment_frequency", "per_day"),
    "lead_time_for_changes": ("lead_time_for_changes", "median_seconds"),
    "change_failure_rate": ("change_failure_rate", "rate"),
    "failed_deployment_recovery_time": ("failed_deployment_recovery_time", "median_seconds"),
    "rework_rate": ("rework_rate", "rate"),
}


def need(ok, what):
    if not ok:
        if REQUIRED:
            pytest.fail(f"{what} is missing and EM_METRICS_REQUIRE_TOOLS=1 (scripts/test.sh installs it)")
        pytest.skip(f"{what} is missing (scripts/test.sh installs it)")


try:
    from selenium import webdriver
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select
except ImportError:  # reported by need() in each test
    webdriver = None


def tools():
    need(webdriver is not None, "selenium (PyPI)")
    need(os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER), "chromium and chromium-driver (Debian)")


def chrome(width=1280, height=800, javascript=True, dark=False):
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    # Without the background-networking flags Chromium tries Google's hosts,
    # which this closed network refuses; they are not requests of the page.
    for flag in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", f"--window-size={width},{height}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    if not javascript:
        options.add_experimental_option("prefs", {"profile.managed_default_content_settings.javascript": 2})
    driver = webdriver.Chrome(service=webdriver.ChromeService(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600})
    if dark:
        driver.execute_cdp_cmd("Emulation.setEmulatedMedia",
                               {"features": [{"name": "prefers-color-scheme", "value": "dark"}]})
    return driver


def sign_in(driver, base, token=TOKEN):
    driver.get(f"{base}/ui/login")
    field = driver.find_element(By.NAME, "token")
    field.clear()
    field.send_keys(token)
    field.submit()
    wait_until(lambda: driver.execute_script("return document.readyState") == "complete", 10, "page loaded")


def network(driver):
    """The page's requests, failures and error statuses, from Chrome's log."""
    requests, failed = [], []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        params = message.get("params", {})
        if message["method"] == "Network.requestWillBeSent":
            requests.append(params["request"]["url"])
        elif message["method"] == "Network.loadingFailed":
            failed.append(params.get("errorText"))
        elif message["method"] == "Network.responseReceived" and params["response"]["status"] >= 400:
            failed.append(f'{params["response"]["status"]} {params["response"]["url"]}')
    return requests, failed


def tiles(driver):
    """Each tile's exact number (data-value) and the text a person reads."""
    out = {}
    for tile in driver.find_elements(By.CSS_SELECTOR, "article.tile"):
        value = tile.find_element(By.CSS_SELECTOR, ".value")
        raw = value.get_attribute("data-value")
        out[tile.get_attribute("data-key")] = (float(raw) if raw else None, value.text)
    return out


def dora_for(base, driver, **filters):
    """/dora for the window the page says it shows, with the same filters."""
    window = driver.find_element(By.CSS_SELECTOR, "p.window")
    query = [("from", window.get_attribute("data-from")), ("to", window.get_attribute("data-to"))]
    query += [(k, v) for k, values in filters.items() for v in values]
    status, body = http("GET", f"{base}/dora?{urllib.parse.urlencode(query)}", token=TOKEN)
    assert status == 200, body
    return body


def half_up(x):
    """Rust's f64::round (half away from zero) for the non-negative values here."""
    return math.floor(x + 0.5)


def one_decimal(x):
    rounded = half_up(x * 10) / 10
    return f"{rounded:.0f}" if rounded >= 10 and rounded == int(rounded) else f"{rounded:.1f}"


def human_duration(seconds):
    """The page's formats (src/ui/format.rs), to check the text a person reads."""
    s = max(seconds, 0.0)
    if s < 60:
        return f"{half_up(s)} s"
    if s < 3600:
        return f"{half_up(s / 60)} min"
    if s < 86400:
        h, m = divmod(half_up(s / 60), 60)
        return "1 d" if h == 24 else (f"{h} h" if m == 0 else f"{h} h {m} min")
    d, h = divmod(half_up(s / 3600), 24)
    return f"{d} d" if h == 0 else f"{d} d {h} h"


def human_frequency(per_day):
    if per_day <= 0:
        return "none"
    if per_day >= 1:
        return f"{one_decimal(per_day)} per day"
    if per_day * 7 >= 1:
        return f"{one_decimal(per_day * 7)} per week"
    return f"{one_decimal(per_day * 30)} per month"


def human(key, value):
    if value is None:
        return "no data"
    if key == "deployment_frequency":
        return human_frequency(value)
    if key.endswith("rate"):
        return f"{one_decimal(value * 100)} %"
    return human_duration(value)


def assert_tiles_match(shown, dora):
    for key, (group, field) in TILES.items():
        value, text = shown[key]
        expected = dora[group][field]
        assert value == expected, f"{key}: page {value}, /dora {expected}"
        assert text == human(key, expected), f"{key}: {text!r} for {expected}"


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The release binary on the demo database (90 days, seed 1), plus an
    open incident whose title is a script."""
    tools()
    folder = tmp_path_factory.mktemp("ui")
    binary = os.environ.get("EM_METRICS_RELEASE_BIN", str(ROOT / "target/release/em-metrics"))
    if not os.path.exists(binary):
        subprocess.run(["cargo", "build", "--quiet", "--release"], cwd=ROOT, check=True)
    made = subprocess.run([binary, "demo", "--days", "90", "--seed", "1", "--sqlite-db", str(folder / "em.db")],
                          check=True, capture_output=True, text=True)
    # The demo prints its team config; served with it, new events get teams too.
    teams = re.search(r"^teams: (\{.*\})", made.stdout, re.M).group(1)
    (folder / "teams.json").write_text(teams)
    with em_metrics(folder, TOKEN, env={"CONFIG": str(folder / "teams.json")}, release=True) as (base, log):
        status, body = http("POST", f"{base}/incidents", {"id": "inc-xss", "project_id": "payments-api",
                                                           "title": SCRIPT_TITLE}, token=TOKEN)
        assert status == 201, body
        yield base, log


@pytest.fixture()
def signed_in(demo):
    base, _ = demo
    driver = chrome()
    try:
        sign_in(driver, base)
        assert driver.current_url == f"{base}/ui", driver.current_url
        yield base, driver
    finally:
        driver.quit()


def test_the_page_loads_everything_from_itself_without_errors_and_fast(signed_in):
    base, driver = signed_in
    driver.get(f"{base}/ui")
    requests, failed = network(driver)
    assert requests, "the performance log recorded the page's requests"
    outside = [u for u in requests if not (u.startswith(base) or u.startswith("data:"))]
    assert not outside, f"requests to another origin: {outside}"
    assert not failed, f"failed requests: {failed}"
    errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors
    timing = driver.execute_script("""
        const nav = performance.getEntriesByType('navigation')[0];
        const all = [nav, ...performance.getEntriesByType('resource')];
        return {load: nav.loadEventEnd, bytes: all.reduce((n, e) => n + e.decodedBodySize, 0)};""")
    assert 0 < timing["load"] < 1000, f"page complete after {timing['load']} ms"
    assert timing["bytes"] < 150 * 1024, f"{timing['bytes']} bytes of HTML, CSS and JS"
    print(f"\n/ui on the demo database: complete in {timing['load']:.0f} ms, {timing['bytes']} bytes")


def test_the_five_tiles_show_what_dora_gives_for_the_same_window(signed_in):
    base, driver = signed_in
    shown = tiles(driver)
    assert set(shown) == set(TILES)
    dora = dora_for(base, driver)
    assert dora["deployment_frequency"]["deployments"] > 100, "the demo has data in the last 30 days"
    assert_tiles_match(shown, dora)
    overall = driver.find_element(By.CSS_SELECTOR, ".overall .level")
    assert overall.text.lower() == dora["level"], "the overall level, in words"


def filters_of(driver):
    """The filters in the page's own address, as /dora takes them."""
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(driver.current_url).query)
    filters = {k: v for k, v in query.items() if k in ("team_id", "project_id", "environment")}
    # The select's "All environments" beside others means all; /dora wants it alone.
    if "*" in filters.get("environment", []):
        filters["environment"] = ["*"]
    return filters


def test_the_page_counts_production_by_default_and_offers_every_environment(signed_in):
    base, driver = signed_in
    environments = Select(driver.find_element(By.NAME, "environment"))
    chosen = [o.get_attribute("value") for o in environments.all_selected_options]
    assert chosen == ["production"], "the demo's production environment is selected by default"
    offered = [o.get_attribute("value") for o in environments.options]
    assert offered[0] == "*" and environments.options[0].text == "All environments", offered
    production = tiles(driver)
    assert_tiles_match(production, dora_for(base, driver))
    environments.select_by_value("*")
    wait_until(lambda: "environment=%2A" in driver.current_url or "environment=*" in driver.current_url, 10,
               "all environments applied")
    everything = tiles(driver)
    assert_tiles_match(everything, dora_for(base, driver, **filters_of(driver)))
    assert everything["deployment_frequency"][0] > production["deployment_frequency"][0], "staging counts too"


def test_filters_change_the_numbers_as_they_change_dora(signed_in):
    base, driver = signed_in
    everyone = tiles(driver)
    Select(driver.find_element(By.NAME, "team_id")).select_by_value("payments")
    # The script applies the change at once; no Apply click needed.
    wait_until(lambda: "team_id=payments" in driver.current_url, 10, "the filter applied")
    shown = tiles(driver)
    assert_tiles_match(shown, dora_for(base, driver, team_id=["payments"]))
    assert shown != everyone, "the filter changed the numbers"
    rows = driver.find_elements(By.CSS_SELECTOR, "section.breakdown tbody th")
    assert [r.text for r in rows] == ["payments"]
    # A second team and an environment: the lists combine as in /dora.
    Select(driver.find_element(By.NAME, "team_id")).select_by_value("search")
    wait_until(lambda: "team_id=search" in driver.current_url, 10, "the second team applied")
    Select(driver.find_element(By.NAME, "environment")).select_by_value("staging")
    wait_until(lambda: "environment=staging" in driver.current_url, 10, "the environment applied")
    filters = filters_of(driver)
    assert filters["team_id"] == ["payments", "search"] and "staging" in filters["environment"], filters
    assert_tiles_match(tiles(driver), dora_for(base, driver, **filters))


def test_the_breakdown_has_one_row_per_team_and_sorts_by_link(signed_in):
    base, driver = signed_in
    status, breakdown = http("GET", f"{base}/dora/breakdown?by=team_id", token=TOKEN)
    assert status == 200
    teams = sorted(g["key"] for g in breakdown["groups"])
    rows = [r.text for r in driver.find_elements(By.CSS_SELECTOR, "section.breakdown tbody th")]
    assert sorted(rows) == teams and len(rows) == 4, rows
    driver.find_element(By.LINK_TEXT, "Team").click()
    rows = [r.text for r in driver.find_elements(By.CSS_SELECTOR, "section.breakdown tbody th")]
    assert rows == sorted(teams), "sorted by name through a plain link"
    driver.find_element(By.LINK_TEXT, "Project").click()
    rows = driver.find_elements(By.CSS_SELECTOR, "section.breakdown tbody th")
    assert len(rows) == 10, "one row per demo project"


def test_a_script_in_a_title_shows_as_text(signed_in):
    base, driver = signed_in
    titles = [a.text for a in driver.find_elements(By.CSS_SELECTOR, "#open-incidents + div a")]
    assert SCRIPT_TITLE in titles, titles
    with pytest.raises(NoAlertPresentException):
        driver.switch_to.alert.text
    scripts = driver.execute_script("return [...document.scripts].map(s => s.src)")
    assert scripts == [f"{base}/ui/static/app.js?v={version()}"], scripts
    link = driver.find_element(By.LINK_TEXT, SCRIPT_TITLE).get_attribute("href")
    assert link == f"{base}/api/v1/incidents/inc-xss", link


def version():
    text = (ROOT / "Cargo.toml").read_text()
    return re.search(r'^version = "([^"]+)"', text, re.M).group(1)


def test_the_session_cookie_is_strict_http_only_and_opens_reads_but_not_writes(signed_in):
    base, driver = signed_in
    cookies = {c["name"]: c for c in driver.get_cookies()}
    session = cookies["em_metrics_session"]
    assert session["httpOnly"] is True and session["sameSite"] == "Strict" and session["path"] == "/"
    assert session["secure"] is False, "plain http on loopback"
    assert abs(session["expiry"] - (time.time() + 12 * 3600)) < 120, "12 hours"
    assert TOKEN not in session["value"]
    assert "em_metrics_session" not in driver.execute_script("return document.cookie"), "not readable by script"
    fetch = """const done = arguments[arguments.length - 1];
        fetch(arguments[0], {method: arguments[1], body: arguments[2]}).then(r => done(r.status), e => done(String(e)));"""
    assert driver.execute_async_script(fetch, "/api/v1/dora", "GET", None) == 200
    body = json.dumps({"id": "from-browser", "project_id": "api"})
    assert driver.execute_async_script(fetch, "/api/v1/deployments", "POST", body) == 401
    assert http("GET", f"{base}/deployments/from-browser", token=TOKEN)[0] == 404, "nothing was written"


def test_signing_out_ends_the_session(signed_in):
    base, driver = signed_in
    driver.find_element(By.CSS_SELECTOR, "form.signout button").click()
    wait_until(lambda: driver.current_url.endswith("/ui/login"), 10, "back at the login form")
    driver.get(f"{base}/ui")
    assert driver.current_url.endswith("/ui/login")
    assert not driver.find_elements(By.CSS_SELECTOR, "article.tile")


def test_a_wrong_token_shows_an_error_and_no_data(demo):
    base, _ = demo
    driver = chrome()
    try:
        driver.get(f"{base}/ui")
        assert driver.current_url.endswith("/ui/login"), "no data without a session"
        assert not driver.find_elements(By.CSS_SELECTOR, "article.tile")
        sign_in(driver, base, token="not-the-token")
        assert "That token is not right." in driver.find_element(By.CSS_SELECTOR, "p.error").text
        assert not driver.get_cookies()
        assert "not-the-token" not in driver.page_source
    finally:
        driver.quit()


def test_without_javascript_the_same_numbers_render(demo):
    base, _ = demo
    driver = chrome(javascript=False)
    try:
        sign_in(driver, base)
        shown = tiles(driver)
        assert_tiles_match(shown, dora_for(base, driver))
        # The filters work through the Apply button alone.
        Select(driver.find_element(By.NAME, "project_id")).select_by_value("search-api")
        driver.find_element(By.CSS_SELECTOR, "form.filters button[type=submit]").click()
        wait_until(lambda: "project_id=search-api" in driver.current_url, 10, "the form submitted")
        assert_tiles_match(tiles(driver), dora_for(base, driver, project_id=["search-api"]))
        charts = driver.find_elements(By.CSS_SELECTOR, "svg.chart")
        # Four trends, the cycle-time stages bar and merged pull requests per bucket.
        assert len(charts) == 6
    finally:
        driver.quit()


def test_basic_auth_works_through_the_browser(tmp_path):
    tools()
    env = {"EM_METRICS_TOKEN_AUTH": "", "EM_METRICS_BASIC_AUTH_USERNAME": "viewer",
           "EM_METRICS_BASIC_AUTH_PASSWORD": "s3cret-pw"}
    with em_metrics(tmp_path, "", env=env, release=True) as (base, _):
        request = urllib.request.Request(f"{base}/ui")
        try:
            urllib.request.urlopen(request, timeout=10)
            raise AssertionError("expected 401")
        except urllib.error.HTTPError as e:
            assert e.code == 401 and e.headers["WWW-Authenticate"] == 'Basic realm="em-metrics"'
        driver = chrome()
        try:
            host = base.removeprefix("http://")
            driver.get(f"http://viewer:s3cret-pw@{host}/ui")
            assert driver.find_elements(By.CSS_SELECTOR, "article.tile"), driver.page_source[:500]
            assert driver.find_element(By.ID, "first-steps").text == "No deployments yet"
            _, failed = network(driver)
            assert not failed, failed
        finally:
            driver.quit()


@pytest.mark.parametrize("dark", [False, True], ids=["light", "dark"])
def test_axe_finds_no_serious_violation_and_screenshots_are_saved(demo, dark, capsys):
    need(AXE.exists(), "axe-core (npm, tests/stack/ui)")
    base, _ = demo
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    theme = "dark" if dark else "light"
    for width, height in [(1280, 800), (360, 740)]:
        driver = chrome(width, height, dark=dark)
        try:
            sign_in(driver, base)
            driver.execute_script(AXE.read_text())
            violations = driver.execute_async_script("""
                const done = arguments[arguments.length - 1];
                axe.run(document, {resultTypes: ['violations']}).then(
                    r => done(r.violations.map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.length}))),
                    e => done([{id: 'axe failed: ' + e, impact: 'critical', nodes: 0}]));""")
            serious = [v for v in violations if v["impact"] in ("serious", "critical")]
            assert not serious, f"{theme} {width}px: {serious}"
            driver.save_screenshot(str(SCREENSHOTS / f"dashboard-{width}x{height}-{theme}.png"))
        finally:
            driver.quit()
    with capsys.disabled():
        print(f"\nscreenshots of /ui: {SCREENSHOTS}")


def test_the_cycle_time_section_shows_the_stages_of_the_merged_pull_requests(demo):
    base, _ = demo
    driver = chrome()
    try:
        sign_in(driver, base)
        window = driver.find_element(By.CSS_SELECTOR, "p.window")
        query = urllib.parse.urlencode({"from": window.get_attribute("data-from"), "to": window.get_attribute("data-to")})
        status, report = http("GET", f"{base}/dora/cycle-time?{query}", token=TOKEN)
        assert status == 200, report
        assert report["pull_requests"]["merged"] > 0, report
        section = driver.find_element(By.CSS_SELECTOR, "section.cycle")
        assert section.find_element(By.TAG_NAME, "h2").text == "Cycle time"
        # One bar: each stage as wide as its share of the medians' total, as /dora/cycle-time gives them.
        medians = [report[k]["median_seconds"] for k in ("coding", "pickup", "review", "deploy")]
        assert all(m is not None for m in medians), report
        widths = driver.execute_script("""
            return [...arguments[0].querySelectorAll('svg.stages rect')].map(r => r.getBoundingClientRect().width);""",
            section)
        bar = section.find_element(By.CSS_SELECTOR, "svg.stages").rect["width"]
        assert len(widths) == 4, widths
        for shown, median in zip(widths, medians):
            assert abs(shown - median / sum(medians) * bar) <= 1.5, (widths, medians, bar)
        legend = [li.text for li in section.find_elements(By.CSS_SELECTOR, "ul.legend li")]
        assert [t.split(" ")[0] for t in legend] == ["Coding", "Pickup", "Review", "Deploy"], legend
        # The latest merged pull requests, newest first, at most 20, each linking to its JSON.
        rows = section.find_elements(By.CSS_SELECTOR, "table tbody tr")
        assert 0 < len(rows) <= 20, len(rows)
        link = rows[0].find_element(By.CSS_SELECTOR, "td a").get_attribute("href")
        assert "/pull-requests/" in link, link
        # Merged pull requests per bucket are drawn.
        bars = driver.execute_script("""
            return [...arguments[0].querySelectorAll('.chart-box svg rect')].length;""", section)
        assert bars > 0
    finally:
        driver.quit()


@pytest.mark.parametrize("dark", [False, True], ids=["light", "dark"])
@pytest.mark.parametrize("width", [360, 390])
def test_on_a_phone_nothing_scrolls_sideways_and_charts_open_on_their_latest_period(demo, width, dark):
    base, _ = demo
    driver = chrome(width, 740, dark=dark)
    try:
        sign_in(driver, base)
        scroll_width, inner = driver.execute_script(
            "return [document.documentElement.scrollWidth, window.innerWidth]")
        assert inner == width, f"the layout viewport is the phone's: {inner}"
        assert scroll_width <= width, f"the page is {scroll_width} px wide on a {width} px screen"
        # Each chart's right end (the latest period) is in view without scrolling.
        charts = driver.execute_script("""
            return [...document.querySelectorAll('.scroll.chart-box')].map(box => {
                const b = box.getBoundingClientRect(), c = box.querySelector('svg').getBoundingClientRect();
                return {title: box.parentElement.querySelector('figcaption').textContent,
                        box: [b.left, b.right], chart: [c.left, c.right]};
            });""")
        # Four trends and merged pull requests (the stages bar fits, it has no box).
        assert len(charts) == 5, charts
        for c in charts:
            assert abs(c["chart"][1] - c["box"][1]) <= 1, f"{c['title']}: the latest period is off screen: {c}"
        # The lists are cards; the breakdown's wide table scrolls in its own focusable box.
        for table in driver.find_elements(By.CSS_SELECTOR, "table.cards"):
            assert table.value_of_css_property("display") == "block"
        box = driver.find_element(By.CSS_SELECTOR, "section.breakdown .scroll")
        assert box.get_attribute("tabindex") == "0"
        # The filter row lines up: two columns, the fields of a row at one height.
        fields = driver.execute_script("""
            return [...document.querySelectorAll('form.filters > label')].map(l => {
                const r = l.getBoundingClientRect(); return [Math.round(r.left), Math.round(r.top)]; });""")
        assert len({left for left, _ in fields}) == 2, fields
        rows = {}
        for left, top in fields:
            rows.setdefault(top, []).append(left)
        assert all(len(lefts) <= 2 for lefts in rows.values()) and len(rows) == (len(fields) + 1) // 2, fields
    finally:
        driver.quit()


def test_the_readme_screenshot_is_a_small_png():
    shot = ROOT / "docs/dashboard.png"
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size < 200 * 1024
    assert "docs/dashboard.png" in (ROOT / "README.md").read_text()
