"""Where the parts meet: the App (settings, database, clock, rules and templates in force),
the worker, the serve process, the simulation on a virtual clock and the demo.

Faces (cli, api, web) use it; the layers below it (services, engine, store, ...) never do.
"""
