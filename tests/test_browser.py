"""Notebook 05's viewer in a real JupyterLab, driven by headless Chromium (Debian's /usr/bin/chromium
through the playwright package; never a browser download): run all cells, check the widget renders, move
the slider with the keyboard and check that the frame and the timeline cursor follow. Screenshots go to the
test's tmp_path/screenshots (pytest keeps the folders of its last three runs), never into the working tree."""
from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

from lab.workbench.notebooks import literal_parameters, parameters_cell

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = "05_prediction_visualisation.ipynb"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
VIEWER = ".lab-prediction-viewer"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.is_file(), reason=f"{CHROMIUM} is absent: install Debian's chromium "
                                                      "(apt-get install chromium) to run the browser test"),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_project(tmp: Path, checkpoint: Path, data_dir: Path) -> Path:
    """A throwaway project: config/ (so `enter_project` finds the root) and notebook 05 with its parameters
    pointing at the tiny checkpoint and dataset."""
    project = tmp / "project"
    shutil.copytree(ROOT / "config", project / "config")
    (project / "notebooks").mkdir(parents=True)
    nb = nbformat.read(ROOT / "notebooks" / NOTEBOOK, as_version=4)
    cell = parameters_cell(nb)
    params = {**literal_parameters(cell.source), "checkpoint": str(checkpoint), "data_dir": str(data_dir),
              "device": "cpu", "max_videos": 3}
    cell.source = "\n".join(f"{name} = {value!r}" for name, value in params.items())
    nbformat.write(nb, project / "notebooks" / NOTEBOOK)
    return project


def jupyter_env(tmp: Path) -> dict[str, str]:
    """Private config/settings/workspace folders, so no user setting or saved layout leaks in, and no
    "receive Jupyter news?" toast covers the page."""
    settings = tmp / "lab-settings"
    notification = settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    notification.parent.mkdir(parents=True)
    notification.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    return {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp / "jupyter-config"), "JUPYTERLAB_SETTINGS_DIR": str(settings),
            "JUPYTERLAB_WORKSPACES_DIR": str(tmp / "workspaces"), "JUPYTER_RUNTIME_DIR": str(tmp / "runtime"),
            "PYTHONUNBUFFERED": "1"}


def wait_for_server(url: str, proc: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"jupyter lab exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"jupyter lab did not answer within {timeout}s:\n{log.read_text()[-3000:]}")


def api(base: str, token: str, route: str, body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{base}{route}", data=data, method="POST" if body is not None else "GET",
                                     headers={"Authorization": f"token {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read() or b"{}")


def start_kernel_session(base: str, token: str, notebook: str) -> None:
    """Start the notebook's kernel through the REST API. JupyterLab then opens the notebook on this session:
    no "Select Kernel" dialog, and no race between two kernels starting (seen with autoStartDefaultKernel)."""
    api(base, token, "/api/sessions", {"path": notebook, "type": "notebook", "name": "", "kernel": {"name": "python3"}})


def stop_server(proc: subprocess.Popen, base: str, token: str) -> None:
    """Ask the server to shut down (it stops its kernels), then terminate, then kill its process group."""
    try:
        request = urllib.request.Request(f"{base}/api/shutdown", method="POST",
                                         headers={"Authorization": f"token {token}"})
        urllib.request.urlopen(request, timeout=10).close()
    except OSError:
        pass
    for sig in (None, signal.SIGTERM, signal.SIGKILL):
        if sig is not None and proc.poll() is None:
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=15)
            return
        except subprocess.TimeoutExpired:
            continue


def wait_for_kernel(page, base: str, token: str, timeout: float = 90) -> None:
    """Until the page is connected to one idle kernel: the notebook toolbar names it, and the server lists
    one session whose kernel is idle with a connection. A "Select Kernel" dialog, should JupyterLab still
    show one, is answered like a user would (Select the preselected Python 3)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        dialog = page.locator(".jp-Dialog")
        if dialog.count():
            dialog.get_by_role("button", name="Select", exact=True).click()
        name = page.locator(".jp-NotebookPanel-toolbar .jp-KernelName")
        if name.count() and "Python 3" in name.inner_text() and page.locator(
                ".jp-Notebook-ExecutionIndicator[data-status='idle']").count():
            kernels = [s["kernel"] for s in api(base, token, "/api/sessions")]
            if len(kernels) == 1 and kernels[0]["execution_state"] == "idle" and kernels[0]["connections"] >= 1:
                return
        time.sleep(0.5)
    pytest.fail(f"JupyterLab did not connect to an idle kernel within {timeout}s")


def drive_viewer(page, url: str, base: str, token: str, shots: Path) -> None:
    page.goto(url)
    page.wait_for_selector(".jp-NotebookPanel .jp-Cell")
    wait_for_kernel(page, base, token)

    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()

    viewer = page.locator(VIEWER)
    viewer.wait_for(state="visible")
    frame, timeline = viewer.locator("img.lab-viewer-frame"), viewer.locator("img.lab-viewer-timeline")
    caption = viewer.locator(".lab-viewer-caption")
    page.wait_for_function("""() => {
        const prompts = [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')];
        return prompts.length > 0 && prompts.every(p => /\\[\\d+\\]/.test(p.textContent));
    }""", timeout=120_000)  # every code cell has run: no "[*]" or "[ ]" left
    assert page.get_by_text("Error displaying widget").count() == 0
    assert page.locator(".jp-OutputArea-output", has_text="Traceback").count() == 0
    assert frame.get_attribute("src") and timeline.get_attribute("src")
    assert caption.inner_text().startswith("frame 0 /")

    before = {"frame": frame.get_attribute("src"), "timeline": timeline.get_attribute("src")}
    handle = viewer.locator(".lab-viewer-slider .noUi-handle")
    handle.focus()
    handle.press("ArrowRight")
    handle.press("ArrowRight")
    page.wait_for_function("el => el.textContent.startsWith('frame 2 /')", arg=caption.element_handle())
    page.wait_for_function("([img, src]) => img.src !== src", arg=[timeline.element_handle(), before["timeline"]])
    assert frame.get_attribute("src") != before["frame"], "the frame follows the slider"
    assert timeline.get_attribute("src") != before["timeline"], "the timeline cursor follows the slider"

    plain = frame.get_attribute("src")
    viewer.get_by_text("Grad-CAM overlay").click()
    page.wait_for_function("el => el.textContent.includes('Grad-CAM:')", arg=caption.element_handle())
    if "evidence of fake highlighted" in caption.inner_text():  # an all-zero map leaves the frame as it is
        page.wait_for_function("([img, src]) => img.src !== src", arg=[frame.element_handle(), plain])

    viewer.scroll_into_view_if_needed()
    viewer.screenshot(path=str(shots / "viewer.png"))
    page.screenshot(path=str(shots / "notebook.png"))


@pytest.mark.timeout(300)
def test_viewer_in_jupyterlab(tmp_path, tiny_checkpoint, synth_root):
    from playwright.sync_api import sync_playwright  # a dev dependency: missing is a failure, not a skip

    project = make_project(tmp_path, tiny_checkpoint, synth_root)
    port, token = free_port(), secrets.token_hex(16)
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "jupyter.log"
    command = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ServerApp.open_browser=False",
               "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
               f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={project}"]
    if os.geteuid() == 0:  # CI containers run as root; Jupyter refuses that without being told
        command.append("--allow-root")
    with log.open("w") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=jupyter_env(tmp_path),
                                cwd=project, start_new_session=True)
    shots = tmp_path / "screenshots"
    shots.mkdir()
    try:
        wait_for_server(f"{base}/api/status?token={token}", proc, log)
        start_kernel_session(base, token, f"notebooks/{NOTEBOOK}")
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1500, "height": 1000})
                page.set_default_timeout(60_000)
                try:
                    drive_viewer(page, f"{base}/lab/tree/notebooks/{NOTEBOOK}?token={token}", base, token, shots)
                except Exception:
                    page.screenshot(path=str(shots / "failure.png"))
                    raise
            finally:
                browser.close()
    finally:
        stop_server(proc, base, token)
