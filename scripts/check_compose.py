"""Fails if a service the README's "Run with Docker" section names is missing from
docker-compose.yml, or runs without a health check. One-shot services (others wait for
them with `service_completed_successfully`) need none."""
import re
import sys

import yaml

compose_path, readme_path = (sys.argv[1:3] + ["docker-compose.yml", "README.md"][len(sys.argv[1:3]):])[:2]
compose = yaml.safe_load(open(compose_path))
services = compose.get("services", {})
readme = open(readme_path).read()
section = re.search(r"^## Run with Docker\n(.*?)(?=^## )", readme, re.S | re.M)
if not section:
    sys.exit("README.md has no '## Run with Docker' section")
named = re.findall(r"^\| `([a-z-]+)` \|", section.group(1), re.M)
if len(named) < 5:
    sys.exit(f"the README's service table names too few services: {named}")

one_shot = {
    dep
    for svc in services.values()
    for dep, cond in (svc.get("depends_on") or {}).items()
    if isinstance(cond, dict) and cond.get("condition") == "service_completed_successfully"
}
problems = []
for name in named:
    service = services.get(name)
    if service is None:
        problems.append(f"{name}: named in the README but not in docker-compose.yml")
        continue
    check = (service.get("healthcheck") or {}).get("test")
    if not check and name not in one_shot:
        problems.append(f"{name}: no health check")
for name in services:
    if name not in named:
        problems.append(f"{name}: in docker-compose.yml but not in the README's table")
if problems:
    sys.exit("docker-compose.yml does not match the README:\n  " + "\n  ".join(problems))
print(f"validate: docker-compose.yml has all {len(named)} services the README names, with health checks")
