"""``python -m scripts.report``: Ctrl-C is turned into a flag before anything slow is imported."""

if __name__ == "__main__":
    from scripts import _signals

    _signals.sigint_deferred()

    from scripts.report.cli import main

    _signals.exit_ignoring_sigint(main())
