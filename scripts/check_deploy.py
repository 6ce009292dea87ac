#!/usr/bin/env python3
"""The checks of scripts/check-deploy that need Python (run with .venv-deploy's python).

  check_deploy.py dockerfile DOCKERFILE DOCKERIGNORE RUN_DIR   (writes RUN commands to RUN_DIR)
  check_deploy.py env-file ENV_EXAMPLE UNIT...
  check_deploy.py cloud-config FILE SCHEMA_JSON OUTDIR   (writes write_files scripts to OUTDIR)
  check_deploy.py k8s DIR
  check_deploy.py coverage REPO

Each prints what it checked and exits 1 with one line per problem.
"""
import json
import os
import re
import shlex
import sys

import yaml


problems = []


def problem(message):
    problems.append(message)
    print(f"  FAIL {message}")


def ok(message):
    print(f"  ok   {message}")


def check(condition, message):
    (ok if condition else problem)(message)
    return condition


# --- Dockerfile -----------------------------------------------------------------------------
DOCKER_INSTRUCTIONS = {
    "FROM", "RUN", "CMD", "LABEL", "MAINTAINER", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT",
    "VOLUME", "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL", "COMMENT",
}


def dockerfile(path, dockerignore, run_dir):
    from dockerfile_parse import DockerfileParser

    parser = DockerfileParser(path)
    structure = parser.structure
    unknown = [i for i in structure if i["instruction"] not in DOCKER_INSTRUCTIONS]
    check(not unknown, "every instruction is a Dockerfile instruction"
          + (f" (unknown: {[i['instruction'] for i in unknown]})" if unknown else ""))

    args = {}
    for item in structure:
        if item["instruction"] == "ARG" and "=" in item["value"]:
            key, value = item["value"].split("=", 1)
            args[key.strip()] = value.strip()
        if item["instruction"] == "FROM":
            break

    # Split into stages.
    stages = []
    for item in structure:
        if item["instruction"] == "FROM":
            words = item["value"].split()
            image = re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), m.group(0)), words[0])
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            stages.append({"image": image, "name": name, "items": []})
        elif stages:
            stages[-1]["items"].append(item)
    check(len(stages) >= 2, f"multi-stage build ({len(stages)} stages: "
          + ", ".join(f"{s['name']} from {s['image']}" for s in stages) + ")")
    if len(stages) < 2:
        return
    build, runtime = stages[0], stages[-1]
    check(re.match(r"^swift:6(\.\d+)*-bookworm$", build["image"]) is not None,
          f"the build stage uses a Swift 6 bookworm image ({build['image']})")
    check(runtime["image"] == "debian:bookworm-slim", f"the runtime stage is debian:bookworm-slim ({runtime['image']})")

    def values(stage, instruction):
        return [i["value"] for i in stage["items"] if i["instruction"] == instruction]

    def installed(stage):
        packages = []
        for run in values(stage, "RUN"):
            for match in re.finditer(r"apt-get install ([^&;|]*)", run):
                packages += [w for w in match.group(1).split() if not w.startswith("-")]
        return packages

    build_packages = installed(build)
    for package in ("libzmq3-dev", "liblz4-dev", "libopenblas-dev", "pkg-config"):
        check(package in build_packages, f"the build stage installs {package}")
    check(any("scripts/package" in run for run in values(build, "RUN")),
          "the build stage runs scripts/package (release build with --static-swift-stdlib and the ldd check)")
    check(sorted(installed(runtime)) == ["liblz4-1", "libopenblas0-pthread", "libzmq5"],
          f"the runtime stage installs exactly libzmq5, liblz4-1 and libopenblas0-pthread ({installed(runtime)})")
    names = {s["name"] for s in stages if s["name"]}
    for copy in values(runtime, "COPY"):
        match = re.search(r"--from=(\S+)", copy)
        if match:
            check(match.group(1) in names, f"COPY --from={match.group(1)} names a stage")
    users = values(runtime, "USER")
    check(bool(users) and users[-1].split(":")[0] not in ("root", "0"),
          f"the runtime stage runs as a non-root user ({users[-1] if users else 'none'})")
    check(any("useradd" in run and "crucible" in run for run in values(runtime, "RUN")),
          "the runtime stage creates the user crucible")
    entry = values(runtime, "ENTRYPOINT")
    try:
        entry_json = json.loads(entry[-1]) if entry else None
    except json.JSONDecodeError:
        entry_json = None
    check(entry_json == ["crucible"], f'ENTRYPOINT ["crucible"] in exec form ({entry[-1] if entry else "none"})')
    check("5555" in " ".join(values(runtime, "EXPOSE")).split(), "EXPOSE 5555")
    check(bool(values(runtime, "WORKDIR")), f"WORKDIR set ({values(runtime, 'WORKDIR')})")
    volumes = values(runtime, "VOLUME")
    check(bool(volumes), f"VOLUME for models and output ({volumes})")
    # COPY sources from the build context exist in the repository.
    context = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(path))))
    for stage in stages:
        for copy in values(stage, "COPY") + values(stage, "ADD"):
            if "--from=" in copy:
                continue
            sources = [w for w in shlex.split(copy) if not w.startswith("--")][:-1]
            for source in sources:
                check(os.path.exists(os.path.join(context, source)), f"COPY source {source} exists in the build context")
    # RUN commands, as /bin/sh -c will run them, to shellcheck (written to run_dir).
    os.makedirs(run_dir, exist_ok=True)
    count = 0
    for stage in stages:
        for item in stage["items"]:
            if item["instruction"] == "RUN":
                count += 1
                with open(os.path.join(run_dir, f"run-{count:02d}-line{item['startline'] + 1}.sh"), "w") as f:
                    f.write("#!/bin/sh\n" + item["value"] + "\n")
    ok(f"{count} RUN commands extracted for sh -n and shellcheck")

    ignored = [line.strip() for line in open(dockerignore) if line.strip() and not line.startswith("#")]
    for pattern in (".git", ".build*", "dist"):
        check(pattern in ignored, f".dockerignore excludes {pattern}")


# --- cloud-config ---------------------------------------------------------------------------
def cloud_config(path, schema_path, out_dir):
    text = open(path).read()
    check(text.startswith("#cloud-config\n"), "the first line is #cloud-config")
    data = yaml.safe_load(text)
    schema = json.load(open(schema_path))
    keys = set()

    def collect(node):
        if "$ref" in node:
            collect(schema["$defs"][node["$ref"].split("/")[-1]])
        keys.update(node.get("properties", {}).keys())
        for k in ("allOf", "anyOf", "oneOf"):
            for n in node.get(k, []):
                collect(n)

    collect(schema)
    unknown = sorted(set(data) - keys)
    check(not unknown, f"every top-level key is a cloud-init module key ({sorted(data)})"
          + (f"; unknown: {unknown}" if unknown else ""))
    check({"libzmq5", "liblz4-1", "libopenblas0-pthread"} <= set(data.get("packages", [])),
          "installs libzmq5, liblz4-1 and libopenblas0-pthread")
    check("REPLACE-ME" in text, "placeholders are marked REPLACE-ME")
    os.makedirs(out_dir, exist_ok=True)
    paths = [f.get("path") for f in data.get("write_files", [])]
    for required in ("/etc/crucible/worker.env", "/etc/crucible/keys/coordinator.public"):
        check(required in paths, f"writes {required}")
    for entry in data.get("write_files", []):
        content = entry.get("content", "")
        if content.startswith("#!"):
            name = os.path.basename(entry["path"])
            with open(os.path.join(out_dir, name), "w") as f:
                f.write(content)
            ok(f"extracted the script {entry['path']} for bash -n and shellcheck")
            # Files of the tarball it uses must exist in the repository (the tarball's layout).
            for ref in sorted(set(re.findall(r"/opt/crucible/((?:deploy|docs|examples)/[\w./@-]+)", content))):
                check(os.path.exists(ref), f"{entry['path']} uses {ref}, which the tarball holds")
        if entry["path"].endswith(".env"):
            for line in content.splitlines():
                if line.strip() and not line.lstrip().startswith("#"):
                    check(re.match(r"^[A-Z_][A-Z0-9_]*=", line) is not None, f"{entry['path']}: KEY=VALUE line: {line}")


# --- systemd environment file ---------------------------------------------------------------
def env_file(example, *units):
    defined = set()
    for number, line in enumerate(open(example), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        match = re.match(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$", stripped)
        if check(match is not None, f"{example}:{number}: KEY=VALUE ({stripped})"):
            defined.add(match.group(1))
    check("CRUCIBLE_CONNECT" in defined, "CRUCIBLE_CONNECT is set (the worker's required setting)")
    for unit in units:
        text = open(unit).read()
        for line in text.splitlines():
            if line.startswith("ExecStart="):
                used = set(re.findall(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)", line)) - {"CREDENTIALS_DIRECTORY"}
                check(used <= defined, f"{os.path.basename(unit)}: ExecStart's variables {sorted(used)} are in the example")


# --- Kubernetes cross-references --------------------------------------------------------------
def k8s(directory):
    documents = []
    for name in sorted(os.listdir(directory)):
        if name.endswith((".yaml", ".yml")):
            for doc in yaml.safe_load_all(open(os.path.join(directory, name))):
                if doc:
                    documents.append((name, doc))
    by_kind = {}
    for name, doc in documents:
        by_kind.setdefault(doc["kind"], {})[doc["metadata"]["name"]] = doc
    jobs = by_kind.get("Job", {})
    coordinator = jobs.get("crucible-coordinator")
    workers = jobs.get("crucible-workers")
    service = by_kind.get("Service", {}).get("crucible-coordinator")
    if not check(coordinator and workers and service, "a coordinator Job, a worker Job and the coordinator Service"):
        return
    pod_specs = [("coordinator", coordinator["spec"]["template"]), ("workers", workers["spec"]["template"])]
    for role, template in pod_specs:
        spec = template["spec"]
        for volume in spec.get("volumes", []):
            if "secret" in volume:
                check(volume["secret"]["secretName"] in by_kind.get("Secret", {}),
                      f"{role}: Secret {volume['secret']['secretName']} is defined")
            if "persistentVolumeClaim" in volume:
                claim = volume["persistentVolumeClaim"]["claimName"]
                check(claim in by_kind.get("PersistentVolumeClaim", {}), f"{role}: PVC {claim} is defined")
            if "configMap" in volume:
                check(volume["configMap"]["name"] in by_kind.get("ConfigMap", {}),
                      f"{role}: ConfigMap {volume['configMap']['name']} is defined")
        container = spec["containers"][0]
        check(spec["securityContext"].get("runAsNonRoot") is True, f"{role}: runAsNonRoot")
        check(container["securityContext"].get("readOnlyRootFilesystem") is True, f"{role}: read-only root file system")
        requests = container["resources"]["requests"]
        check("cpu" in requests and "memory" in requests, f"{role}: cpu and memory requests ({requests})")
    # The selector finds the coordinator pod; the port is the one it listens on.
    labels = coordinator["spec"]["template"]["metadata"]["labels"]
    selector = service["spec"]["selector"]
    check(all(labels.get(k) == v for k, v in selector.items()), "the Service selects the coordinator pod")
    args = coordinator["spec"]["template"]["spec"]["containers"][0]["args"]
    listen = args[args.index("--listen") + 1]
    port = int(listen.rsplit(":", 1)[1])
    check(any(p["port"] == port for p in service["spec"]["ports"]), f"the Service exposes the --listen port {port}")
    check(args[args.index("--local-workers") + 1] == "0", "the coordinator runs no local workers")
    check("--keys" in args, "the coordinator uses keys")
    env = {e["name"]: e for e in workers["spec"]["template"]["spec"]["containers"][0]["env"]}
    connect = env["CRUCIBLE_CONNECT"]["value"]
    check(connect == f"tcp://{service['metadata']['name']}:{port}", f"workers connect to the Service ({connect})")
    min_workers = int(args[args.index("--min-workers") + 1])
    check(workers["spec"]["completions"] == min_workers == workers["spec"]["parallelism"],
          f"worker completions/parallelism = the coordinator's --min-workers ({min_workers})")
    # Key layouts: coordinator key.public, key.secret, authorized/*.public; worker key.*, coordinator.public.
    def secret_paths(template):
        for volume in template["spec"]["volumes"]:
            if "secret" in volume:
                return {item["path"] for item in volume["secret"]["items"]}
        return set()
    coordinator_keys = secret_paths(coordinator["spec"]["template"])
    check({"key.public", "key.secret"} <= coordinator_keys
          and any(re.match(r"^authorized/[^/]+\.public$", p) for p in coordinator_keys),
          f"coordinator keys in the --keys layout ({sorted(coordinator_keys)})")
    check(secret_paths(workers["spec"]["template"]) == {"key.public", "key.secret", "coordinator.public"},
          "worker keys in the --keys layout")
    images = {t["spec"]["containers"][0]["image"] for _, t in pod_specs}
    check(len(images) == 1, f"coordinator and workers run the same image ({sorted(images)})")


# --- Every deploy file has a checker and a line in docs/operations.md --------------------------
CHECKED = {
    r"^deploy/docker/Dockerfile$": "dockerfile-parse checks + sh -n/shellcheck of RUN",
    r"^deploy/systemd/[^/]+\.service$": "systemd-analyze verify + security",
    r"^deploy/systemd/worker\.env\.example$": "KEY=VALUE lines, variables used by the units",
    r"^deploy/cloud-init/[^/]+\.yaml$": "cloud-init schema + module keys + shellcheck",
    r"^deploy/slurm/[^/]+\.sbatch$": "bash -n + shellcheck + dry run with stub srun",
    r"^deploy/k8s/[^/]+\.yaml$": "kubernetes-validate --strict + cross-references",
}


def coverage(repo):
    operations = open(os.path.join(repo, "docs/operations.md")).read()
    for root, _, files in os.walk(os.path.join(repo, "deploy")):
        for name in sorted(files):
            rel = os.path.relpath(os.path.join(root, name), repo)
            checker = next((v for k, v in CHECKED.items() if re.match(k, rel)), None)
            check(checker is not None, f"{rel} has a checker" + (f" ({checker})" if checker else ""))
            check(rel in operations, f"{rel} is listed in docs/operations.md")


def main():
    command, *args = sys.argv[1:]
    {"dockerfile": dockerfile, "env-file": env_file, "cloud-config": cloud_config, "k8s": k8s,
     "coverage": coverage}[command](*args)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
