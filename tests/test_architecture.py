"""Architecture rules for the ``cluster_events`` package, checked statically.

The code is layered so that each part can be read, tested and moved on its own:

* Routes call forms and services; services call models. ``models.py`` and ``database.py``
  are the bottom layer: they describe tables and know nothing of Flask, requests or forms, so
  they can be used by the CLI, the mail worker and the migrations without a web context.
* ``mail/`` and ``calendar/`` are serving packages: they render and deliver things *for* the
  domain packages (events, registration, auth, members). When they reach back into a domain,
  the dependency runs both ways and nothing can be changed in isolation any more.
* ``admin/`` is the organizer console, a UI layer on top of the domains. No domain may depend
  on it, otherwise the public site drags the whole console along.
* Packages must not import each other in a cycle; a cycle means two packages are really one.
* Core modules (config, extensions, database, models, audit, errors, ...) sit below every
  package. Only the app-assembly modules (``__init__.py``/create_app, ``cli.py``, ``demo.py``,
  ``template_helpers.py``, ``pages.py``) wire packages together and may import anything.

The target layout is described in the restructuring spec (issue 8). The checks read the source
with :mod:`ast` only: nothing is imported, so they work even when the app cannot start. Every
``import`` statement counts, including those inside functions and ``if TYPE_CHECKING:`` blocks,
and relative imports are resolved. The checker functions take the package directory as a
parameter so that the self-tests at the bottom can run them against a fake package.
"""

from __future__ import annotations

import ast
import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pytest

PACKAGE_DIR = Path(__file__).resolve().parent.parent / "cluster_events"

# Top-level modules that assemble the app: they may import anything.
APP_ASSEMBLY_MODULES = frozenset(
    {"__init__.py", "cli.py", "demo.py", "template_helpers.py", "pages.py"}
)
# The bottom layer: no web framework, no package of the project.
DATA_LAYER_MODULES = ("models.py", "database.py")
# The only first-party module models.py may import.
MODELS_ALLOWED_IMPORT = "database"
WEB_MODULES = frozenset({"flask", "werkzeug", "wtforms"})
WEB_MODULE_PREFIXES = ("flask_",)
ADMIN_PACKAGE = "admin"
SERVING_PACKAGES = ("mail", "calendar")
DOMAIN_PACKAGES = ("events", "registration", "auth", "members", "admin")
# Stop enumerating cycles after this many (the first ones are enough to act on).
MAX_REPORTED_CYCLES = 25
# Evidence lines printed per package edge in a cycle report.
MAX_EVIDENCE_PER_EDGE = 3


@dataclass(frozen=True, order=True)
class ImportRecord:
    """One imported module: ``file`` is relative to the package's parent directory."""

    file: PurePosixPath
    lineno: int
    module: str

    @property
    def location(self) -> tuple[str, ...]:
        """Path parts inside the package, e.g. ``("mail", "outbox.py")``."""
        return self.file.parts[1:]

    def __str__(self) -> str:
        return f"{self.file}:{self.lineno} -> {self.module}"


# --- reading the imports -------------------------------------------------------------------


def python_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts)


def subpackages(root: Path) -> list[str]:
    """Directories directly under ``root`` that have an ``__init__.py``."""
    return sorted(p.name for p in root.iterdir() if p.is_dir() and (p / "__init__.py").is_file())


def module_name(root: Path, path: Path) -> str:
    parts = [root.name, *path.relative_to(root).with_suffix("").parts]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def is_project_module(root: Path, dotted: str) -> bool:
    """True when ``dotted`` names a module file or a directory inside the package."""
    parts = dotted.split(".")
    if parts[0] != root.name:
        return False
    target = root.joinpath(*parts[1:])
    return target.with_suffix(".py").is_file() or target.is_dir()


def resolve_relative(module: str | None, level: int, importer: str, is_package: bool) -> str:
    """Turn ``from <level dots><module> import ...`` inside ``importer`` into an absolute name."""
    if level == 0:
        assert module is not None
        return module
    package = importer.split(".") if is_package else importer.split(".")[:-1]
    if level - 1 >= len(package):
        raise ValueError(f"relative import beyond the top-level package in {importer}")
    base = package[: len(package) - (level - 1)]
    return ".".join([*base, module] if module else base)


def imports_in_file(root: Path, path: Path) -> Iterator[ImportRecord]:
    source = path.read_text(encoding="utf-8")
    tree = ast.parse(source, filename=str(path))
    importer = module_name(root, path)
    is_package = path.name == "__init__.py"
    display = PurePosixPath(root.name, *path.relative_to(root).parts)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield ImportRecord(display, node.lineno, alias.name)
        elif isinstance(node, ast.ImportFrom):
            try:
                base = resolve_relative(node.module, node.level, importer, is_package)
            except ValueError as error:
                raise ValueError(f"{display}:{node.lineno}: {error}") from error
            for alias in node.names:
                # `from x import y` imports x.y when y is a module or package, else a name of x.
                candidate = f"{base}.{alias.name}"
                if alias.name != "*" and is_project_module(root, candidate):
                    yield ImportRecord(display, node.lineno, candidate)
                else:
                    yield ImportRecord(display, node.lineno, base)


def collect_imports(root: Path) -> list[ImportRecord]:
    """Every import of every module under ``root``, sorted and without duplicates."""
    return sorted({record for path in python_files(root) for record in imports_in_file(root, path)})


def is_within(module: str, targets: Iterable[str]) -> bool:
    """True when ``module`` is one of ``targets`` or lies below one of them."""
    return any(module == target or module.startswith(target + ".") for target in targets)


def is_web_module(module: str) -> bool:
    top = module.split(".")[0]
    return top in WEB_MODULES or top.startswith(WEB_MODULE_PREFIXES)


# --- the rules -----------------------------------------------------------------------------


def find_data_layer_violations(root: Path) -> list[ImportRecord]:
    """Rule 1: models.py and database.py import no web module and no subpackage.

    models.py may import only ``<package>.database`` from the project.
    """
    package = root.name
    forbidden_packages = [f"{package}.{name}" for name in subpackages(root)]
    allowed_in_models = f"{package}.{MODELS_ALLOWED_IMPORT}"
    violations = []
    for record in collect_imports(root):
        if record.location not in {(name,) for name in DATA_LAYER_MODULES}:
            continue
        first_party = is_within(record.module, [package])
        if (
            is_web_module(record.module)
            or is_within(record.module, forbidden_packages)
            or (
                record.location == ("models.py",)
                and first_party
                and not is_within(record.module, [allowed_in_models])
            )
        ):
            violations.append(record)
    return violations


def find_admin_imports(root: Path) -> list[ImportRecord]:
    """Rule 2: nothing outside admin/ (and the app-assembly modules) imports admin."""
    admin = f"{root.name}.{ADMIN_PACKAGE}"
    return [
        record
        for record in collect_imports(root)
        if record.location[0] != ADMIN_PACKAGE
        and not is_app_assembly(record)
        and is_within(record.module, [admin])
    ]


def find_serving_to_domain_imports(root: Path) -> list[ImportRecord]:
    """Rule 3: mail/ and calendar/ import no domain package."""
    domains = [f"{root.name}.{name}" for name in DOMAIN_PACKAGES]
    return [
        record
        for record in collect_imports(root)
        if len(record.location) > 1
        and record.location[0] in SERVING_PACKAGES
        and is_within(record.module, domains)
    ]


def find_core_to_subpackage_imports(root: Path) -> list[ImportRecord]:
    """Rule 5: top-level modules other than the app-assembly ones import no subpackage."""
    packages = [f"{root.name}.{name}" for name in subpackages(root)]
    return [
        record
        for record in collect_imports(root)
        if len(record.location) == 1
        and not is_app_assembly(record)
        and is_within(record.module, packages)
    ]


def is_app_assembly(record: ImportRecord) -> bool:
    return len(record.location) == 1 and record.location[0] in APP_ASSEMBLY_MODULES


PackageGraph = dict[str, dict[str, list[ImportRecord]]]


def package_graph(root: Path) -> PackageGraph:
    """Edges between subpackages, each with the imports that create it."""
    names = subpackages(root)
    graph: PackageGraph = {name: {} for name in names}
    prefix = root.name + "."
    for record in collect_imports(root):
        if len(record.location) < 2 or record.location[0] not in graph:
            continue
        if not record.module.startswith(prefix):
            continue
        source = record.location[0]
        target = record.module[len(prefix) :].split(".")[0]
        if target in graph and target != source:
            graph[source].setdefault(target, []).append(record)
    return graph


def find_cycles(graph: PackageGraph, limit: int = MAX_REPORTED_CYCLES) -> list[list[str]]:
    """Elementary cycles, each listed once, starting from its alphabetically first package."""
    cycles: list[list[str]] = []

    def walk(start: str, path: list[str]) -> None:
        for target in sorted(graph.get(path[-1], {})):
            if len(cycles) >= limit:
                return
            if target == start:
                cycles.append([*path, start])
            elif target > start and target not in path:
                walk(start, [*path, target])

    for start in sorted(graph):
        walk(start, [start])
    return cycles


def find_package_cycles(root: Path) -> list[str]:
    """Rule 4: one readable report per cycle between subpackages."""
    graph = package_graph(root)
    reports = []
    for cycle in find_cycles(graph):
        lines = [" -> ".join(cycle)]
        for source, target in itertools.pairwise(cycle):
            evidence = graph[source][target]
            lines.append(f"    {source} -> {target}:")
            lines.extend(f"      {record}" for record in evidence[:MAX_EVIDENCE_PER_EDGE])
            if len(evidence) > MAX_EVIDENCE_PER_EDGE:
                lines.append(f"      (+{len(evidence) - MAX_EVIDENCE_PER_EDGE} more)")
        reports.append("\n".join(lines))
    return reports


def report(rule: str, why: str, violations: Iterable[object]) -> str:
    body = "\n".join(f"  {violation}" for violation in violations)
    return f"{rule}\n({why})\n{body}"


# --- the rules on the real package ---------------------------------------------------------


@pytest.fixture
def root() -> Path:
    assert (PACKAGE_DIR / "__init__.py").is_file(), f"package not found at {PACKAGE_DIR}"
    assert subpackages(PACKAGE_DIR), f"no subpackage found under {PACKAGE_DIR}"
    return PACKAGE_DIR


RULES = {
    "data layer imports no web module": (
        find_data_layer_violations,
        "models.py / database.py import a web module or a project package:",
        "models import only sqlalchemy + cluster_events.database; "
        "database imports no flask/werkzeug/wtforms and no subpackage",
    ),
    "only admin imports admin": (
        find_admin_imports,
        "cluster_events.admin imported from outside admin/:",
        "admin is the console on top of the domains; only the app-assembly modules may wire it in",
    ),
    "mail and calendar import no domain": (
        find_serving_to_domain_imports,
        "mail/ or calendar/ imports a domain package:",
        "mail and calendar serve events, registration, auth, members and admin; "
        "pass them the data instead of importing the domain",
    ),
    "no import cycle between packages": (
        find_package_cycles,
        "import cycle between packages:",
        "a cycle means the packages cannot be understood or moved separately",
    ),
    "core modules import no subpackage": (
        find_core_to_subpackage_imports,
        "core module imports a subpackage:",
        "core modules sit below every package; only __init__, cli, demo, "
        "template_helpers and pages may import packages",
    ),
}


@pytest.mark.parametrize("rule", RULES)
def test_the_package_keeps_the_rule(root: Path, rule: str) -> None:
    find, title, why = RULES[rule]
    violations = find(root)
    if violations:
        pytest.fail(report(title, why, violations), pytrace=False)


# --- self-tests: the checker can fail ------------------------------------------------------


def write_package(base: Path, files: dict[str, str]) -> Path:
    root = base / "cluster_events"
    for name, source in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source, encoding="utf-8")
    return root


BAD_PACKAGE = {
    "__init__.py": "from cluster_events.admin import bp\n",
    "database.py": "import werkzeug.local\n",
    "models.py": (
        "from flask import g\n"
        "from cluster_events import database, extensions\n"
        "from . import events\n"
    ),
    "extensions.py": "",
    "audit.py": "def record():\n    from .registration import services\n",
    "admin/__init__.py": "bp = object()\n",
    "admin/views.py": "from cluster_events.registration import services\n",
    "events/__init__.py": "",
    "events/routes.py": (
        "import cluster_events.admin.views\nfrom cluster_events.registration import services\n"
    ),
    "registration/__init__.py": "",
    "registration/services.py": "from cluster_events.mail import outbox\n",
    "mail/__init__.py": "",
    "mail/outbox.py": (
        "def send():\n    from ..registration import services\n    from ..events import routes\n"
    ),
    "calendar/__init__.py": "",
    "calendar/feeds.py": "from cluster_events import auth\n",
    "auth/__init__.py": "",
}


def strings(records: Iterable[ImportRecord]) -> set[str]:
    return {str(record) for record in records}


def test_checker_reports_violations_in_a_fake_package(tmp_path: Path) -> None:
    root = write_package(tmp_path, BAD_PACKAGE)

    assert strings(find_data_layer_violations(root)) == {
        "cluster_events/database.py:1 -> werkzeug.local",
        "cluster_events/models.py:1 -> flask",
        "cluster_events/models.py:2 -> cluster_events.extensions",
        "cluster_events/models.py:3 -> cluster_events.events",
    }
    assert strings(find_admin_imports(root)) == {
        "cluster_events/events/routes.py:1 -> cluster_events.admin.views",
    }
    assert strings(find_serving_to_domain_imports(root)) == {
        "cluster_events/mail/outbox.py:2 -> cluster_events.registration.services",
        "cluster_events/mail/outbox.py:3 -> cluster_events.events.routes",
        "cluster_events/calendar/feeds.py:1 -> cluster_events.auth",
    }
    assert strings(find_core_to_subpackage_imports(root)) == {
        "cluster_events/models.py:3 -> cluster_events.events",
        "cluster_events/audit.py:2 -> cluster_events.registration.services",
    }
    # events/routes.py imports admin, and admin imports registration: a cycle through admin.
    assert find_cycles(package_graph(root)) == [
        ["admin", "registration", "mail", "events", "admin"],
        ["events", "registration", "mail", "events"],
        ["mail", "registration", "mail"],
    ]
    cycle_reports = find_package_cycles(root)
    mail_cycle = cycle_reports[2]
    assert mail_cycle.splitlines()[0] == "mail -> registration -> mail"
    assert "cluster_events/mail/outbox.py:2 -> cluster_events.registration.services" in mail_cycle
    assert "cluster_events/registration/services.py:1 -> cluster_events.mail.outbox" in mail_cycle


def test_checker_accepts_a_clean_package(tmp_path: Path) -> None:
    root = write_package(
        tmp_path,
        {
            "__init__.py": "from cluster_events.admin import bp\nfrom . import pages\n",
            "pages.py": "from cluster_events.events import routes\n",
            "database.py": "import sqlalchemy\n",
            "models.py": "from cluster_events.database import Base\nfrom . import database\n",
            "audit.py": "from flask_login import current_user\nfrom .models import Event\n",
            "admin/__init__.py": "from cluster_events import events, registration\nbp = 1\n",
            "admin/attendees/__init__.py": "from ...registration import services\n",
            "events/__init__.py": "",
            "events/routes.py": "from cluster_events.registration import services\n",
            "registration/__init__.py": "",
            "registration/services.py": (
                "from cluster_events.mail import outbox\nfrom cluster_events.calendar import ical\n"
            ),
            "mail/__init__.py": "",
            "mail/outbox.py": "def send():\n    from ..models import Event\n    import flask\n",
            "calendar/__init__.py": "",
            "calendar/ical.py": "from cluster_events import models\n",
        },
    )

    assert find_data_layer_violations(root) == []
    assert find_admin_imports(root) == []
    assert find_serving_to_domain_imports(root) == []
    assert find_core_to_subpackage_imports(root) == []
    assert find_package_cycles(root) == []


def test_relative_imports_are_resolved(tmp_path: Path) -> None:
    root = write_package(
        tmp_path,
        {
            "__init__.py": "from . import models\n",
            "models.py": "",
            "mail/__init__.py": "from .outbox import send\nfrom . import outbox\n",
            "mail/outbox.py": (
                "from .. import models\nfrom ..models import Event\nfrom . import *\n"
            ),
        },
    )

    assert strings(collect_imports(root)) == {
        "cluster_events/__init__.py:1 -> cluster_events.models",
        "cluster_events/mail/__init__.py:1 -> cluster_events.mail.outbox",
        "cluster_events/mail/__init__.py:2 -> cluster_events.mail.outbox",
        "cluster_events/mail/outbox.py:1 -> cluster_events.models",
        "cluster_events/mail/outbox.py:2 -> cluster_events.models",
        "cluster_events/mail/outbox.py:3 -> cluster_events.mail",
    }
    write_package(tmp_path, {"models.py": "from ... import x\n"})
    with pytest.raises(ValueError, match="beyond the top-level package"):
        collect_imports(root)
