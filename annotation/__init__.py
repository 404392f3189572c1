"""icaa.annotation: the Label Studio round trip, rater screening and MOS.

Modules: ``anchors`` (anchor photos for the instructions, never rated photos), ``labelstudio`` (labelling config,
instructions, tasks, export to a project, paginated fetch; label-studio-sdk is imported inside), ``ratings``
(validation of every annotation and the incremental merge), ``mos`` (BT.500 for partial designs, lazy-rater
screens, plain mean, robust subject-mixture MOS, sureal MLE_CO_AP2), ``simulate`` (seeded simulated raters, also
in Label Studio's export format).
"""

__all__ = ["anchors", "labelstudio", "mos", "ratings", "simulate"]
