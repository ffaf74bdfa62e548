{#-
    A partner's free text as it leaves for BI: a value a spreadsheet would run as a
    formula - one starting with =, +, -, @, a tab or a carriage return, such as
    '=HYPERLINK("http://x", "click")' - gets a leading apostrophe, so that a CSV or
    Excel export of a Metabase card shows it as text. Only the BI-facing marts apply
    it (names, city, country, campaign names, contact reasons); raw, staging and the
    steward tables keep the value byte for byte.
-#}
{% macro bi_text(expr) -%}
    case
        when substr({{ expr }}, 1, 1) in ('=', '+', '-', '@', chr(9), chr(13)) then '''' || {{ expr }}
        else {{ expr }}
    end
{%- endmacro %}
