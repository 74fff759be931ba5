"""Adds N pull requests to a benchmark database (bench/cycle_time.sh), once.

Written with SQL straight into `pull_requests`, spread like the deployments
of bench/million.sh: over the deployments' time span, projects and teams;
15 % closed or open, the rest merged, 80 % of the merged shipped. Random but
seeded, so every run makes the same rows. `--check` exits 1 when the rows
are not there yet.
"""
import random
import sqlite3
import sys

db, count = sys.argv[1], int(sys.argv[2])
conn = sqlite3.connect(db, timeout=30)
have = conn.execute("SELECT count(*) FROM pull_requests WHERE id LIKE 'bench#%'").fetchone()[0]
if "--check" in sys.argv:
    sys.exit(0 if have >= count else 1)
if have >= count:
    print(f"== {have} bench pull requests already in {db}")
    sys.exit(0)
conn.execute("DELETE FROM pull_requests WHERE id LIKE 'bench#%'")
projects = conn.execute("SELECT DISTINCT project_id, team_id FROM deployments WHERE team_id IS NOT NULL").fetchall()
start, end = conn.execute("SELECT min(deploy_start_at), max(deploy_start_at) FROM deployments").fetchone()
rng = random.Random(1)
H = 3_600_000
rows = []
for n in range(count):
    project, team = rng.choice(projects)
    opened = rng.randint(start, end)
    first_commit = opened - rng.randint(0, 72 * H)
    ready = opened + (rng.randint(0, 24 * H) if rng.random() < 0.2 else 0)
    review = ready + rng.randint(0, 48 * H) if rng.random() < 0.9 else None
    roll = rng.random()
    merged = closed = deployed = sha = None
    state = "open"
    if roll < 0.85:
        state = "merged"
        merged = (review or ready) + rng.randint(0, 72 * H)
        sha = f"bench-merge-{n}"
        if rng.random() < 0.8:
            deployed = merged + rng.randint(0, 48 * H)
    elif roll < 0.95:
        state = "closed"
        closed = opened + rng.randint(0, 240 * H)
    author = f"dev{rng.randint(1, 500)}"
    rows.append((f"bench#{n}", project, team, n, f"Bench pull request {n}", author, f"key-{author}", "main",
                 f"head-{n}", 0, state, opened, first_commit, ready, review, review if review and rng.random() < 0.7 else None,
                 1 if review else 0, merged, sha, rng.randint(1, 800), rng.randint(0, 400), closed,
                 "bench-deployment" if deployed else None, deployed, "bench", opened, opened))
conn.executemany(
    "INSERT INTO pull_requests (id, project_id, team_id, number, title, author, author_key, base_branch, head_sha, draft, state, "
    "opened_at, first_commit_at, ready_at, first_review_at, approved_at, reviews, merged_at, merge_commit_sha, "
    "additions, deletions, closed_at, deployment_id, deployed_at, created_by, created_at, updated_at) "
    "VALUES (" + ", ".join(["?"] * 27) + ")", rows)
conn.commit()
print(f"== added {count} pull requests to {db}")
