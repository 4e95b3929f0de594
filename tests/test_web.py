"""mockvapi.web: the daily-js stand-in's packaging (ES module, CommonJS twin, npm folder) and `mockvapi web-shim`."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from mockvapi.cli import main
from mockvapi.web import PACKAGE_NAME, cjs_source, esm_source, package_files, write_package

# What Vapi's web SDK calls on a Daily call object (WEB-SDK.md, checked against @vapi-ai/web 2.7.1 and 2.6.3).
SDK_METHODS = (
    "on", "off", "iframe", "join", "updateParticipant", "sendAppMessage",
    "startRemoteParticipantsAudioLevelObserver", "startLocalAudioLevelObserver", "stopLocalAudioLevelObserver",
    "isLocalAudioLevelObserverRunning", "getLocalAudioLevel", "updateInputSettings", "setLocalAudio",
    "localAudio", "setInputDevicesAsync", "setOutputDeviceAsync", "participants", "destroy",
    "startRecording", "stopRecording", "startScreenShare", "stopScreenShare", "testNetworkConnectivity",
    "testWebsocketConnectivity", "testCallQuality", "startCamera",
)


def test_the_commonjs_twin_is_the_module_with_commonjs_exports() -> None:
    esm, cjs = esm_source(), cjs_source()
    assert "export default DailyIframe;" in esm and "export " not in cjs
    assert 'Object.defineProperty(exports, "__esModule", { value: true });' in cjs
    assert "exports.default = DailyIframe;" in cjs
    # Apart from the export lines, the same code.
    assert cjs.count("\n") - esm.count("\n") == 4


def test_the_npm_folder_names_both_entry_points(tmp_path: Path) -> None:
    written = write_package(tmp_path / "shim")
    assert sorted(p.name for p in written) == ["index.cjs", "index.js", "package.json"]
    manifest = json.loads((tmp_path / "shim" / "package.json").read_text())
    assert manifest["name"] == PACKAGE_NAME and manifest["type"] == "module"
    assert manifest["exports"]["."] == {"import": "./index.js", "require": "./index.cjs", "default": "./index.js"}
    assert {p.name: p.read_text() for p in written} == package_files()


def test_web_shim_command_writes_the_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["web-shim", "--out", str(tmp_path / "daily")]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines() == [str(tmp_path / "daily" / n) for n in ("package.json", "index.js", "index.cjs")]
    assert "npm install" in err


def test_web_shim_command_reports_a_folder_it_cannot_write(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["web-shim", "--out", str(blocker / "daily")]) == 1
    assert capsys.readouterr().err.startswith(f"mockvapi web-shim: cannot write {blocker / 'daily'}")


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_require_and_import_give_what_the_sdk_reads(tmp_path: Path) -> None:
    folder = tmp_path / "node_modules" / "@daily-co" / "daily-js"
    write_package(folder)
    script = """
const assert = require("node:assert");
const required = require("@daily-co/daily-js");
// The SDK's own shape of import: __importDefault(require(...)).default.createCallObject(...)
assert.strictEqual(required.__esModule, true);
const call = required.default.createCallObject({ audioSource: true });
const missing = METHODS.filter((m) => typeof call[m] !== "function");
assert.deepStrictEqual(missing, []);
assert.strictEqual(call.iframe(), null);
assert.ok(call.updateInputSettings({}) instanceof Promise && call.destroy() instanceof Promise);
import("@daily-co/daily-js").then((m) => {
  assert.strictEqual(typeof m.default.createCallObject, "function");
  console.log("ok");
});
""".replace("METHODS", json.dumps(SDK_METHODS))
    done = subprocess.run(["node", "-e", script], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
