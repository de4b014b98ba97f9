"""Source watchers: shop databases polled for order changes (`[[sources]]` in the config).

    notifier.sources.settings   SourceSettings: what the config file says about a source
    notifier.sources.reader     SourceReader: rows past a mark, read-only; SourceUnavailable
    notifier.sources.watcher    SourceWatcher: poll_once() and run(stop), marks kept in the
                                notifier database

Nothing is imported here: notifier.config imports the settings module, and the watcher
imports notifier.config.
"""
