"""The house rules, checked cheaply: the library never imports the app, and the app's files sit where
Streamlit's multipage mode needs them."""

import ast
import re
import subprocess
import sys
from pathlib import Path

from _helpers import ROOT


def _imports(path: Path) -> set[str]:
    """Top-level module names a file imports (absolute imports only)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_no_pages_folder_sits_beside_app_py():
    # A pages/ folder beside the entry script switches Streamlit to its legacy multipage mode until
    # st.navigation runs, which breaks deep links: the pages live in views/.
    assert (ROOT / "app.py").is_file()
    assert not (ROOT / "pages").exists()


def test_the_library_never_imports_streamlit_or_the_views():
    offenders = {
        str(path.relative_to(ROOT)): bad
        for path in sorted((ROOT / "alviz").rglob("*.py"))
        if (bad := _imports(path) & {"streamlit", "views", "app", "alviz_app"})
    }
    assert offenders == {}


def test_every_file_directly_in_views_is_a_page_of_the_navigation():
    pages = set(re.findall(r'st\.Page\(\s*"views/(\w+)\.py"', (ROOT / "app.py").read_text()))
    files = {p.stem for p in (ROOT / "views").glob("*.py") if p.stem != "__init__"}
    assert pages and files == pages


def test_the_readme_recipe_for_a_strategy_registers_one_that_keeps_the_contract(tmp_path):
    # The recipe is the newcomer's path: it must run as printed, in a fresh interpreter (the registry is global).
    readme = (ROOT / "README.md").read_text()
    recipe = readme[readme.index("**Add a query strategy**") :]
    code = re.search(r"```python\n(.*?)```", recipe, re.S).group(1)
    name = re.search(r'@register\("(\w+)"', code).group(1)
    check = f"""
from alviz.strategies import INFO, ordered, select
X = np.random.default_rng(0).normal(size=(60, 4)).astype(np.float32)
labeled = np.zeros(60, bool); labeled[:6] = True
y = np.where(labeled, np.arange(60) % 2, -1)
proba = np.random.default_rng(1).dirichlet([1, 1], 60)
for p in (None, proba):
    rows = select({name!r}, QueryContext(X=X, labeled=labeled, y=y, proba=p), 5, 0)
    assert len(set(rows.tolist())) == 5 and not labeled[rows].any()
assert {name!r} in [info.name for info in ordered()] and INFO[{name!r}].description
print("ok")
"""
    script = tmp_path / "recipe.py"
    script.write_text(code + check)
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_every_test_file_sits_in_a_folder_pytest_collects():
    # pyproject's testpaths name the three folders (cheap ones first): a test file elsewhere would never run.
    folders = {"unit", "app", "e2e"}
    stray = [
        str(p.relative_to(ROOT))
        for p in (ROOT / "tests").rglob("test_*.py")
        if p.relative_to(ROOT / "tests").parts[0] not in folders
    ]
    assert stray == []
