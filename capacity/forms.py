"""The what-if form of the capacity planner."""

from __future__ import annotations

from dataclasses import asdict, replace

from django import forms
from django.http import QueryDict

from capacity.exceptions import InvalidPlanInput
from capacity.planner import PlanInputs


class WhatIfForm(forms.Form):
    users = forms.IntegerField(min_value=0, max_value=10_000_000)
    repositories = forms.IntegerField(min_value=0, max_value=10_000_000)
    peak_qps = forms.FloatField(min_value=0, max_value=1_000_000, label="Peak QPS")
    monthly_growth = forms.FloatField(
        min_value=-0.5, max_value=5, help_text="0.05 is 5% per month, compounded."
    )
    months = forms.IntegerField(min_value=0, max_value=60)
    tenants = forms.IntegerField(min_value=1, max_value=1_000_000)
    is_dedicated_collections = forms.BooleanField(required=False, label="One collection per tenant")
    is_int8 = forms.BooleanField(required=False, label="int8 quantization")


def plan_inputs_from(query: QueryDict, defaults: PlanInputs) -> tuple[WhatIfForm, PlanInputs]:
    """Return the bound form and the inputs it describes, or the defaults when the query
    has none. Raise InvalidPlanInput naming the first bad field."""
    initial = {k: v for k, v in asdict(defaults).items() if k in WhatIfForm.base_fields}
    if "users" not in query:
        return WhatIfForm(initial=initial), defaults
    form = WhatIfForm(query)
    if not form.is_valid():
        name, errors = next(iter(form.errors.items()))
        raise InvalidPlanInput(f"{name}: {' '.join(errors)}", field=name)
    return form, replace(defaults, **form.cleaned_data)
