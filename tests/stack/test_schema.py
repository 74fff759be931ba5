"""The dashboards type-check against Grafana's published schema.

No Grafana server installs here, so the check is the next best thing: each
dashboard becomes a TypeScript object literal typed as `Dashboard` from npm
`@grafana/schema`, and each panel's `options` as its plugin's `Options`;
`tsc --strict` must accept them (object literals get excess-property
checks, so a misspelt key fails too).

The schema types many fields as TypeScript string enums (`BigValueGraphMode`),
which no JSON string can satisfy; `Json<T>` is the JSON form of a type, each
string enum replaced by the union of its values.
"""
import json
import pathlib
import subprocess

from conftest import ROOT

SCHEMA_DIR = pathlib.Path(__file__).resolve().parent / "schema"
RAW = "@grafana/schema/dist/esm/raw"
PANEL_OPTIONS = {
    "stat": f"{RAW}/composable/stat/panelcfg/x/StatPanelCfg_types.gen",
    "timeseries": f"{RAW}/composable/timeseries/panelcfg/x/TimeSeriesPanelCfg_types.gen",
    "bargauge": f"{RAW}/composable/bargauge/panelcfg/x/BarGaugePanelCfg_types.gen",
}


def typescript_for(dashboard):
    lines = [
        f'import type {{ Dashboard }} from "{RAW}/dashboard/x/Dashboard_types.gen";',
        "type Json<T> = T extends string ? `${T}` : T extends (infer U)[] ? Json<U>[] "
        ": T extends object ? { [K in keyof T]: Json<T[K]> } : T;",
    ]
    for kind, module in PANEL_OPTIONS.items():
        lines.append(f'import type {{ Options as {kind}Options }} from "{module}";')
    if "timeseries" in PANEL_OPTIONS:
        lines.append(f'import type {{ FieldConfig as timeseriesFieldConfig }} from "{PANEL_OPTIONS["timeseries"]}";')
    lines.append(f"export const dashboard: Json<Dashboard> = {json.dumps(dashboard, indent=2)};")
    for panel in dashboard["panels"]:
        kind = panel["type"]
        if kind == "row":
            continue
        assert kind in PANEL_OPTIONS, f"panel type {kind} has no schema mapping here; add it"
        lines.append(f"export const options{panel['id']}: Json<{kind}Options> = {json.dumps(panel['options'])};")
        custom = panel["fieldConfig"]["defaults"].get("custom")
        if kind == "timeseries" and custom is not None:
            lines.append(f"export const custom{panel['id']}: Json<timeseriesFieldConfig> = {json.dumps(custom)};")
    return "\n".join(lines) + "\n"


def test_dashboards_type_check_against_the_grafana_schema(tmp_path):
    assert (SCHEMA_DIR / "node_modules" / "@grafana" / "schema").is_dir(), (
        "run `npm ci --prefix tests/stack/schema` (scripts/test.sh does)")
    checked = []
    for path in sorted((ROOT / "grafana" / "dashboards").glob("*.json")):
        source = SCHEMA_DIR / f"check-{path.stem}.ts"
        source.write_text(typescript_for(json.loads(path.read_text())))
        checked.append(source)
    try:
        result = subprocess.run(
            [str(SCHEMA_DIR / "node_modules" / ".bin" / "tsc"), "--noEmit", "--strict", "--skipLibCheck",
             "--module", "nodenext", "--moduleResolution", "nodenext", "--target", "es2022", *map(str, checked)],
            cwd=SCHEMA_DIR, capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr
    finally:
        for source in checked:
            source.unlink()
    assert checked, "no dashboards found"
