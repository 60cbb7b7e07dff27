"""Rich views: the live dashboard (:mod:`.dashboard`) and the bench report (:mod:`.bench`).

Only the CLI imports these modules, and only inside the commands that show
them: Rich stays out of ``va --help``.
"""
