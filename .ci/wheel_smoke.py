"""Build the sdist and wheel, check them, and smoke-test the wheel in a fresh venv.

What users install is the wheel, not the editable tree, so CI checks it as they would get it:

    python -m build            sdist + wheel
    twine check                metadata renders, licence and classifiers are valid
    fresh venv, pip install    the wheel with every extra, from a directory outside the repo
    smoke                      flagkit --version, validate, eval, a Flags evaluation in code,
                               import flagkit loads neither boto3 nor pydantic, flagkit demo

Run with the project's venv python (it has build and twine): ``.venv/bin/python .ci/wheel_smoke.py``.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


EXTRAS = r"""
import flagkit, flagkit.aws_lambda, flagkit.openfeature, flagkit.opentelemetry
import flagkit.powertools, flagkit.testing

ion = "'dark-mode'::'''{\"enabled\": true}'''"
assert flagkit.validate(ion, content_type="application/ion") == 1
print("ok")
"""


def run(*cmd: str | Path, cwd: Path | None = None) -> str:
    shown = " ".join(str(c) for c in cmd)
    print(f"wheel-smoke: $ {shown}", flush=True)
    out = subprocess.run(
        [str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        print(out.stdout, out.stderr, sep="\n", file=sys.stderr)
        raise SystemExit(f"wheel-smoke: failed ({out.returncode}): {shown}")
    return out.stdout


def main() -> int:
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="flagkit-wheel-") as tmp:
        work = Path(tmp)
        dist = work / "dist"
        run(sys.executable, "-m", "build", "--sdist", "--wheel", "--outdir", dist, ROOT)
        wheels = sorted(dist.glob("flagkit_appconfig-*.whl"))
        sdists = sorted(dist.glob("flagkit_appconfig-*.tar.gz"))
        if len(wheels) != 1 or len(sdists) != 1:
            raise SystemExit(f"wheel-smoke: expected one wheel and one sdist, got {list(dist)}")
        run(sys.executable, "-m", "twine", "check", "--strict", *wheels, *sdists)

        env = work / "venv"
        venv.EnvBuilder(with_pip=True, clear=True).create(env)
        py = env / "bin" / "python"
        flagkit = env / "bin" / "flagkit"
        pip = [py, "-m", "pip", "install", "--disable-pip-version-check", "-q"]
        run(*pip, f"{wheels[0]}[aws,ion,openfeature,otel]")  # every extra the docs name

        home = work / "user"  # outside the repository: only the installed wheel is importable
        home.mkdir()
        version = run(flagkit, "--version", cwd=home)
        assert "flagkit-appconfig" in version, version
        example = home / "checkout.json"
        example.write_bytes((ROOT / "examples" / "flags" / "checkout.json").read_bytes())
        ok = run(flagkit, "validate", example, cwd=home)
        assert ": ok: 2 flags" in ok, ok
        out = run(
            flagkit, "eval", example, "new-pricing-engine",
            "--user", "u1", "--attr", "email=a@shop.example", cwd=home,
        )
        assert "variant: staff" in out, out
        code = (
            "import sys, flagkit\n"
            "heavy = [m for m in ('boto3', 'botocore', 'pydantic') if m in sys.modules]\n"
            "assert not heavy, heavy\n"
            "assert flagkit.__file__.startswith(sys.prefix), flagkit.__file__\n"
            "f = flagkit.Flags(flagkit.FileSource('checkout.json'))\n"
            "assert f.enabled('dark-mode') is True\n"
            "assert f.variant('new-pricing-engine', 'u1', {'email': 'a@shop.example'}) == 'staff'\n"
            "f.close()\n"
            "print('ok')\n"
        )
        assert run(py, "-c", code, cwd=home).strip() == "ok"
        (home / "extras.py").write_text(EXTRAS)  # each public module, and an Ion document
        assert run(py, "extras.py", cwd=home).strip() == "ok"
        demo = run(flagkit, "demo", cwd=home)
        assert "finished in" in demo, demo[-2000:]
    print(f"wheel-smoke: ok in {time.monotonic() - started:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
