"""Consistency checks of infra/ that no linter knows about; run by scripts/check-infra.

python3 infra/check_infra.py statemachine TEMPLATE ASL
python3 infra/check_infra.py kubeconfig FILE
python3 infra/check_infra.py backstage TEMPLATE APP_CONFIG
python3 infra/check_infra.py binaries TEMPLATE            (prints one binary a line)
python3 infra/check_infra.py workspace-bins METADATA|- BIN...
python3 infra/check_infra.py bootstraps TARGET LAMBDA_DIR BIN...

Each check prints what it found wrong, one line each naming the file and the field, and
exits 1; it exits 0 silently otherwise.
"""

import json
import re
import sys
from pathlib import Path

import yaml

# The chain's Task states, in order, as documented; shared::chain::STEP_NAMES in the
# Rust sources wins where it exists (see chain_steps).
CHAIN = ["policy-check", "collect-evidence", "llm-analyze", "commit-report"]
RETRYABLE = "Retryable.DependencyFailed"
LAMBDA_ERRORS = {
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
}
STATE_TYPES = {"Task", "Pass", "Choice", "Wait", "Succeed", "Fail", "Parallel", "Map"}
NEVER_RETRIED = {"NonRetryable.DependencyFailed", "NonRetryable.InvalidInput", "States.ALL"}


class CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short-form tags (!Ref, !Sub, ...) as Fn:: mappings."""


def _cfn_tag(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {"Ref" if suffix == "Ref" else f"Fn::{suffix}": value}


CfnLoader.add_multi_constructor("!", _cfn_tag)


def load_template(path):
    with open(path, encoding="utf-8") as f:
        return yaml.load(f, Loader=CfnLoader)  # noqa: S506 - a SafeLoader subclass


def functions(template):
    return {
        name: res
        for name, res in template["Resources"].items()
        if res["Type"] == "AWS::Serverless::Function"
    }


def chain_steps(root=Path(__file__).resolve().parent.parent):
    """STEP_NAMES as the Rust chain declares it, or the documented list before it does."""
    pattern = re.compile(r"STEP_NAMES\s*:[^=]*=\s*(?:&\s*)?\[([^\]]*)\]", re.S)
    for path in sorted((root / "shared" / "src").rglob("*.rs")):
        found = pattern.search(path.read_text(encoding="utf-8"))
        if found:
            return re.findall(r'"([^"]+)"', found.group(1)), str(path.relative_to(root))
    return CHAIN, "the documented chain"


def check_statemachine(template_path, asl_path):
    errors = []
    chain, source = chain_steps()
    template = load_template(template_path)
    machines = [
        (name, res)
        for name, res in template["Resources"].items()
        if res["Type"] == "AWS::Serverless::StateMachine"
    ]
    if len(machines) != 1:
        return [f"{template_path}: expected one AWS::Serverless::StateMachine, found {len(machines)}"]
    name, machine = machines[0]
    props = machine["Properties"]
    asl_text = Path(asl_path).read_text(encoding="utf-8")
    asl = json.loads(asl_text)
    used = set(re.findall(r"\$\{([A-Za-z0-9]+)\}", asl_text))
    given = set(props.get("DefinitionSubstitutions", {}))
    for var in sorted(used - given):
        errors.append(f"{asl_path}: ${{{var}}} has no DefinitionSubstitutions entry in {name}")
    for var in sorted(given - used):
        errors.append(f"{template_path}: {name}.DefinitionSubstitutions.{var} is not used by {asl_path}")
    fn_names = set(functions(template))
    for var, value in props.get("DefinitionSubstitutions", {}).items():
        target = value.get("Fn::GetAtt", "") if isinstance(value, dict) else ""
        target = target.split(".")[0] if isinstance(target, str) else target[0]
        if target not in fn_names:
            errors.append(f"{template_path}: {name}.DefinitionSubstitutions.{var} must be !GetAtt <Function>.Arn")

    states = asl.get("States", {})
    for sname, state in states.items():
        kind = state.get("Type")
        if kind not in STATE_TYPES:
            errors.append(f"{asl_path}: States.{sname}.Type {kind!r} is not a state type")
        targets = [state.get("Next")] + [c.get("Next") for c in state.get("Catch", [])]
        for target in filter(None, targets):
            if target not in states:
                errors.append(f"{asl_path}: States.{sname} leads to {target!r}, which does not exist")
        if kind not in ("Choice", "Succeed", "Fail") and not state.get("Next") and state.get("End") is not True:
            errors.append(f"{asl_path}: States.{sname} needs Next or End: true")
        if kind == "Task" and not str(state.get("Resource", "")).startswith("arn:aws:states:::lambda:invoke"):
            errors.append(f"{asl_path}: States.{sname}.Resource: the lambda:invoke integration expected")
    tasks = []
    at = asl.get("StartAt")
    seen = set()
    while at and at not in seen:
        seen.add(at)
        state = states.get(at)
        if state is None:
            errors.append(f"{asl_path}: a transition names state {at!r}, which does not exist")
            break
        if state.get("Type") == "Task" and at != "record-failure":
            tasks.append(at)
        at = state.get("Next")
    if tasks != chain:
        errors.append(f"{asl_path}: Task states from StartAt are {tasks}, expected {chain} ({source})")
    for step in chain:
        state = states.get(step)
        if not state:
            continue
        retries = state.get("Retry", [])
        retried = {e for r in retries for e in r.get("ErrorEquals", [])}
        if RETRYABLE not in retried:
            errors.append(f"{asl_path}: States.{step}.Retry does not retry {RETRYABLE}")
        for missing in sorted(LAMBDA_ERRORS - retried):
            errors.append(f"{asl_path}: States.{step}.Retry does not retry {missing}")
        for wrong in sorted(retried & NEVER_RETRIED):
            errors.append(f"{asl_path}: States.{step}.Retry retries {wrong}, which must never be retried")
        for r in retries:
            if not 1 <= r.get("MaxAttempts", 3) <= 10 or r.get("BackoffRate", 2.0) < 1.0:
                errors.append(f"{asl_path}: States.{step}.Retry {r['ErrorEquals']}: MaxAttempts 1..10 and BackoffRate >= 1 expected")
            if "MaxDelaySeconds" not in r:
                errors.append(f"{asl_path}: States.{step}.Retry {r['ErrorEquals']}: MaxDelaySeconds expected (bounded backoff)")
        catches = state.get("Catch", [])
        catch_all = [c for c in catches if "States.ALL" in c.get("ErrorEquals", [])]
        if not catch_all:
            errors.append(f"{asl_path}: States.{step}.Catch has no States.ALL")
            continue
        handler = states.get(catch_all[0].get("Next"), {})
        payload = handler.get("Parameters", {}).get("Payload", {})
        if payload.get("command") != "record-failure" or "run_id.$" not in payload or "error.$" not in payload:
            errors.append(f"{asl_path}: States.{step}.Catch must lead to a record-failure task with run_id.$ and error.$")
        if states.get(handler.get("Next"), {}).get("Type") != "Fail":
            errors.append(f"{asl_path}: the failure-recording state of {step} must lead to a Fail state")
    return errors


def check_kubeconfig(path):
    with open(path, encoding="utf-8") as f:
        config = yaml.safe_load(f)
    errors = []
    if config.get("apiVersion") != "v1" or config.get("kind") != "Config":
        errors.append(f"{path}: apiVersion v1, kind Config expected")

    def named(section, inner):
        items = config.get(section)
        if not isinstance(items, list) or not items:
            errors.append(f"{path}: {section}: a non-empty list expected")
            return {}
        out = {}
        for i, item in enumerate(items):
            if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not isinstance(item.get(inner), dict):
                errors.append(f"{path}: {section}[{i}]: {{name, {inner}: {{...}}}} expected")
                continue
            out[item["name"]] = item[inner]
        return out

    clusters = named("clusters", "cluster")
    users = named("users", "user")
    contexts = named("contexts", "context")
    for name, cluster in clusters.items():
        if not str(cluster.get("server", "")).startswith("https://"):
            errors.append(f"{path}: clusters[{name}].cluster.server: an https:// URL expected")
    for name, user in users.items():
        if not any(k in user for k in ("token", "tokenFile", "client-certificate", "client-certificate-data")):
            errors.append(f"{path}: users[{name}].user: token, tokenFile or a client certificate expected")
    for name, context in contexts.items():
        if context.get("cluster") not in clusters:
            errors.append(f"{path}: contexts[{name}].context.cluster names no cluster")
        if context.get("user") not in users:
            errors.append(f"{path}: contexts[{name}].context.user names no user")
    if config.get("current-context") not in contexts:
        errors.append(f"{path}: current-context names no context")
    return errors


def check_backstage(template_path, app_config_path):
    with open(template_path, encoding="utf-8") as f:
        template = yaml.safe_load(f)
    with open(app_config_path, encoding="utf-8") as f:
        app_config = yaml.safe_load(f)
    errors = []
    if template.get("kind") != "Template" or template.get("metadata", {}).get("name") != "rca-analyze":
        errors.append(f"{template_path}: kind Template named rca-analyze expected")
    spec = template.get("spec", {})
    props = {}
    for page in spec.get("parameters", []):
        props.update(page.get("properties", {}))
    for name in ("entity", "cluster", "namespace", "since"):
        if name not in props:
            errors.append(f"{template_path}: spec.parameters: {name} expected")
    routes = app_config.get("proxy", {}).get("endpoints", {})
    for step in spec.get("steps", []):
        if step.get("action") != "http:backstage:request":
            continue
        where = f"{template_path}: steps[{step.get('id')}]"
        inputs = step.get("input", {})
        headers = {k.lower(): v for k, v in inputs.get("headers", {}).items()}
        if headers.get("authorization") != "Bearer ${{ secrets.backstageToken }}":
            errors.append(f"{where}.input.headers.Authorization: 'Bearer ${{{{ secrets.backstageToken }}}}' expected (else the action sends a plugin token)")
        parts = inputs.get("path", "").strip("/").split("/")
        if len(parts) < 2 or parts[0] != "proxy":
            errors.append(f"{where}.input.path: /proxy/<route>/... expected")
            continue
        route = routes.get("/" + parts[1])
        if route is None:
            errors.append(f"{app_config_path}: proxy.endpoints./{parts[1]} (used by {where}) is missing")
        elif route.get("credentials") != "forward":
            errors.append(f"{app_config_path}: proxy.endpoints./{parts[1]}.credentials: forward expected (the default strips Authorization)")
    if not isinstance(spec.get("output", {}).get("run_id"), str):
        errors.append(f"{template_path}: spec.output.run_id expected")
    return errors


def template_binaries(template_path):
    template = load_template(template_path)
    out = []
    for name, res in functions(template).items():
        meta = res.get("Metadata", {})
        binary = meta.get("BuildProperties", {}).get("Binary")
        if meta.get("BuildMethod") != "rust-cargolambda" or not binary:
            raise SystemExit(f"{template_path}: {name}.Metadata: BuildMethod rust-cargolambda and BuildProperties.Binary expected")
        out.append(binary)
    return out


def check_workspace_bins(metadata_path, binaries):
    text = sys.stdin.read() if metadata_path == "-" else Path(metadata_path).read_text(encoding="utf-8")
    metadata = json.loads(text)
    bins = {t["name"] for p in metadata["packages"] for t in p["targets"] if "bin" in t["kind"]}
    return [
        f"infra/template.yaml names binary {b}, which no workspace crate builds"
        for b in binaries
        if b not in bins
    ]


ELF_MACHINE = {"aarch64-unknown-linux-gnu": 183, "x86_64-unknown-linux-gnu": 62}


def check_bootstraps(target, lambda_dir, binaries):
    errors = []
    for binary in binaries:
        path = Path(lambda_dir) / binary / "bootstrap"
        if not path.is_file():
            errors.append(f"{path}: missing")
            continue
        head = path.read_bytes()[:20]
        machine = int.from_bytes(head[18:20], "little")
        if head[:4] != b"\x7fELF" or machine != ELF_MACHINE[target]:
            errors.append(f"{path}: not an ELF executable for {target} (e_machine {machine})")
            continue
        print(f"{binary}: {path.stat().st_size / 1048576:.1f} MiB ({target})")
    return errors


def main(argv):
    if len(argv) < 2:
        raise SystemExit(__doc__)
    command, args = argv[1], argv[2:]
    if command == "statemachine":
        errors = check_statemachine(*args)
    elif command == "kubeconfig":
        errors = check_kubeconfig(*args)
    elif command == "backstage":
        errors = check_backstage(*args)
    elif command == "binaries":
        print("\n".join(template_binaries(*args)))
        errors = []
    elif command == "workspace-bins":
        errors = check_workspace_bins(args[0], args[1:])
    elif command == "bootstraps":
        errors = check_bootstraps(args[0], args[1], args[2:])
    else:
        raise SystemExit(__doc__)
    for error in errors:
        print(f"error: {error}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
