"""The what-if form of the capacity planner."""

from __future__ import annotations

from dataclasses import asdict, replace

from django import forms
from django.http import QueryDict

from capacity.exceptions import InvalidPlanInput
from capacity.planner import (
    MAX_PEAK_QPS,
    MAX_REPOSITORIES,
    MAX_TENANTS,
    MAX_USERS,
    PlanInputs,
)


class WhatIfForm(forms.Form):
    users = forms.IntegerField(min_value=0, max_value=MAX_USERS)
    repositories = forms.IntegerField(min_value=0, max_value=MAX_REPOSITORIES)
    peak_qps = forms.FloatField(min_value=0, max_value=MAX_PEAK_QPS, label="Peak QPS")
    monthly_growth = forms.FloatField(
        min_value=-0.5, max_value=5, help_text="0.05 is 5% per month, compounded."
    )
    months = forms.IntegerField(min_value=0, max_value=60)
    tenants = forms.IntegerField(min_value=1, max_value=MAX_TENANTS)
    is_dedicated_collections = forms.BooleanField(required=False, label="One collection per tenant")
    is_int8 = forms.BooleanField(required=False, label="int8 quantization")


def _with_defaults(
    query: QueryDict, initial: dict[str, object], *, absent_box_is_off: bool = False
) -> QueryDict:
    """Return ``query`` with every what-if field it lacks filled from ``initial``.

    A link such as ``plan.json?months=24`` changes one input and keeps the others; an
    absent checkbox means its default there, not "off". A browser leaves an unchecked box
    out of a submitted form, so for the form's own submissions (``absent_box_is_off``) an
    absent box stays off and only missing number fields take their defaults.
    """
    data = query.copy()
    for name, value in initial.items():
        if name in data:
            continue
        if isinstance(value, bool):
            if value and not absent_box_is_off:
                data[name] = "on"
        else:
            data[name] = str(value)
    return data


def plan_inputs_from(query: QueryDict, defaults: PlanInputs) -> tuple[WhatIfForm, PlanInputs]:
    """Return the bound form and the inputs it describes, or the defaults when the query
    names no what-if field. Raise InvalidPlanInput naming the first bad field.

    The form on the plan page always sends ``users`` and every field, unchecked boxes
    included as absent. Any other query (a hand-made link such as
    ``?users=50&monthly_growth=2&months=60``) keeps the defaults for the fields it leaves out,
    and a bad value is refused like any other.
    """
    initial = {k: v for k, v in asdict(defaults).items() if k in WhatIfForm.base_fields}
    if not any(name in query for name in WhatIfForm.base_fields):
        return WhatIfForm(initial=initial), defaults
    form = WhatIfForm(_with_defaults(query, initial, absent_box_is_off="users" in query))
    if not form.is_valid():
        name, errors = next(iter(form.errors.items()))
        raise InvalidPlanInput(f"{name}: {' '.join(errors)}", field=name)
    return form, replace(defaults, **form.cleaned_data)
