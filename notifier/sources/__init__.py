"""Source watchers: shop databases polled for order changes (`[[sources]]` in the config).

    notifier.sources.reader     SourceReader: rows past a mark, read-only; SourceUnavailable
    notifier.sources.watcher    SourceWatcher: poll_once() and run(stop), marks kept in the
                                notifier database

What the config file says about a source (SourceSettings) is in notifier.source_settings, a
leaf that notifier.config imports.
"""
