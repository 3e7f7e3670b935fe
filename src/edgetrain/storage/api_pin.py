def install():
    import os
    os.environ["EDGETRAIN_PTH_RAN"] = "1"
