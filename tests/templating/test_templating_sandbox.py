"""Hostile templates: each must fail fast with a TemplateError, never hang, eat memory or leak."""

from __future__ import annotations

import pytest

from notifier.domain.messages import ChannelName
from notifier.errors import TemplateError
from notifier.templating import TemplateCatalog, sample_context

HOSTILE = {
    # reaching Python internals
    "mro": "{{ ''.__class__.__mro__ }}",
    "subclasses": "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "cycler_globals": "{{ cycler.__init__.__globals__ }}",
    "joiner_globals": "{{ joiner.__init__.__globals__.os }}",
    "namespace_init": "{{ namespace.__init__ }}",
    "attr_filter": "{{ ''|attr('__class__') }}",
    "item_lookup": "{{ ''['__class__'] }}",
    "self_context": "{{ self._TemplateReference__context }}",
    "customer_dict_class": "{{ customer.__class__ }}",
    "date_internals": "{{ now.__class__.__init__ }}",
    "format_method_globals": "{{ '{0.__class__}'.format(1) }}",
    # CPU and memory
    "repeat_string": "{{ 'a' * 10**9 }}",
    "repeat_list": "{{ ([1] * 10**8) | length }}",
    "repeat_reversed": "{{ 10**9 * 'ab' }}",
    "huge_power": "{{ 10 ** (10 ** 9) }}",
    "power_chain": "{{ 2 ** 100000 }}",
    "int_squaring": "{% set ns = namespace(n=3) %}{% for i in range(40) %}"
    "{% set ns.n = ns.n * ns.n %}{% endfor %}{{ ns.n > 0 }}",
    "nested_range": "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}"
    "{% endfor %}",
    "triple_range": "{% for i in range(100) %}{% for j in range(100) %}{% for k in range(100) %}"
    "{% endfor %}{% endfor %}{% endfor %}",
    "big_range": "{{ range(10**9) | list | length }}",
    "nested_literal_loops": "{% set s = 'x' * 5000 %}{% for a in s %}{% for b in s %}{% endfor %}"
    "{% endfor %}",
    "str_format_width": "{{ '{:>999999999}'.format(1) }}",
    "format_map": "{{ '{x}'.format_map({'x': 1}) }}",
    "printf_width": "{{ '%999999999s' % 'a' }}",
    "printf_star": "{{ '%*s' % (999999999, 'a') }}",
    "format_filter": "{{ '%999999999d' | format(1) }}",
    "center": "{{ 'x' | center(10**9) }}",
    "indent": "{{ ('x\\n' * 5000) | indent(10**6) }}",
    "indent_string": "{{ ('x\\n' * 5000) | indent('y' * 5000) }}",
    "wordwrap_separator": "{{ ('a ' * 5000) | wordwrap(1, wrapstring='z' * 5000) }}",
    "replace_growth": "{{ ('a' * 5000) | replace('a', 'b' * 5000) }}",
    "join_separator": "{{ range(10000) | join('s' * 5000) }}",
    "batch_fill": "{{ [1] | batch(10**9, 'x') | list }}",
    "slice_count": "{{ [1] | slice(10**9) | list }}",
    "tojson_indent": "{{ {'a': [1, 2]} | tojson(indent=10**8) }}",
    "ljust_method": "{{ 'a'.ljust(10**9) }}",
    "zfill_method": "{{ 'a'.zfill(10**9) }}",
    "to_bytes": "{{ (1).to_bytes(10**9, 'big') }}",
    "strftime_width": "{{ now.strftime('%999999999Y') }}",
    "list_mutation": "{% set l = [1] %}{{ l.append(2) }}{{ l.extend(l) }}",
    "dict_mutation": "{{ customer.update({'name': 'x'}) }}",
    "lipsum": "{{ lipsum(10**6) }}",
    "recursive_macro": "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}",
    "forking_macro": "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}"
    "{% endmacro %}{{ f(60) }}",
    "recursive_loop": "{% for x in [1, 1] recursive %}{{ loop([1, 1]) }}{% endfor %}",
    "doubling_concat": "{% set ns = namespace(s='ab') %}{% for i in range(60) %}"
    "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s | length }}",
    "doubling_plus": "{% set ns = namespace(s=['ab']) %}{% for i in range(60) %}"
    "{% set ns.s = ns.s + ns.s %}{% endfor %}{{ ns.s | length }}",
    "quintupling_filters": "{% set ns = namespace(s='ab') %}{% for i in range(60) %}"
    "{% set ns.s = ns.s | list | string %}{% endfor %}{{ ns.s | length }}",
    "macro_buffer": "{% macro m() %}{% for i in range(9000) %}{{ 'x' * 9000 }}{% endfor %}"
    "{% endmacro %}{{ m() | length }}",
    "set_block_buffer": "{% set big %}{% for i in range(9000) %}{{ 'x' * 9000 }}{% endfor %}"
    "{% endset %}{{ big | length }}",
    "output_flood": "{% for i in range(9000) %}{{ 'x' * 9000 }}{% endfor %}",
    "division_by_zero": "{{ 1 / 0 }}",
    "type_error": "{{ customer + 1 }}",
}


@pytest.fixture(scope="module")
def catalog() -> TemplateCatalog:
    return TemplateCatalog.from_sources(
        {f"{name}/sms.en.j2": source for name, source in HOSTILE.items()}
    )


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_template_fails_fast_with_a_template_error(
    catalog: TemplateCatalog, name: str
) -> None:
    with pytest.raises(TemplateError) as caught:
        catalog.render(name, ChannelName.SMS, "en", sample_context("en"))
    assert str(caught.value).startswith(f"{name}/sms.en.j2: line 1: ")


def test_sandbox_errors_name_the_refused_attribute(catalog: TemplateCatalog) -> None:
    with pytest.raises(TemplateError, match="'__class__' of 'str' object is unsafe"):
        catalog.render("mro", ChannelName.SMS, "en", sample_context("en"))


def test_limits_leave_room_for_real_templates() -> None:
    source = """\
{% macro item(name) %}- {{ name | upper }}{% endmacro %}
{% for area in incident.affects %}{{ item(area) }}
{% endfor %}
{{ '-' * 40 }}
{{ '%-10s|' % 'ok' }} {{ '%.1f' | format(2.25) }} {{ 2 ** 10 }} {{ 'a b c'.split() | join(',') }}
{% for i in range(50) %}{% for j in range(50) %}{% endfor %}{% endfor %}{{ 'x' | center(9) }}
{{ incident.title.upper() }} {{ ('a' ~ 'b') * 3 }} {{ [1, 2] + [3] }} {{ 7 % 3 }}
"""
    catalog = TemplateCatalog.from_sources({"ok/sms.en.j2": source})
    text = catalog.render("ok", ChannelName.SMS, "en", sample_context("en")).text
    assert text == (
        "- SATELLITE-RADIO\n- HOME-RECEIVERS\n"
        + "-" * 40
        + "\nok        | 2.2 1024 a,b,c\n    x    \n"
        "NO XM SATELLITE SIGNAL IN THE NORTHEAST ababab [1, 2, 3] 1"
    )
