"""The web dashboard, served by the API at /: jobs, one job's front, hypervolume and trials."""
