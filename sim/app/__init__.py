"""The teaching workshop app (issue 15): the model in the browser, offline-ready.

    python -m sim.app                 # http://127.0.0.1:8765, this machine only
    python -m sim.app --host 0.0.0.0  # a classroom server: every laptop on the network

Modules: `levers` (the controls as config keys, validated by `sim.load_config`), `session`
(one model or two side by side, stepped together; plain Python), `charts`, `explain` (the
scheme in plain words, English with Chinese), `page` (the Solara page), `__main__` (the
launcher), `screenshots` (regenerates the workshop guide's pictures). Needs the `app` extra:
`pip install -e '.[app]'`. The guide: docs/workshop.md.
"""
