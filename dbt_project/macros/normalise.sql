{#- Matching keys: each macro returns a SQL expression; empty results become null. -#}

{#- lower-cased and trimmed e-mail address -#}
{% macro normalise_email(col) -%}
    nullif(lower(btrim({{ col }}, E' \t\r\n')), '')
{%- endmacro %}


{#-
    E.164-like phone number: '+' followed by digits.
      '+44 7700 900123', '+44 (0)7700 900123' -> '+447700900123'  (explicit '+': kept; '(0)' dropped)
      '0044 7700 900123'                      -> '+447700900123'  (international '00' prefix)
      '07700 900123', '(07700) 900-123'       -> '+447700900123'  (national trunk '0' -> country code)
      '447700900123'                          -> '+447700900123'  (already starts with the country code)
      '7700900123'                            -> '+447700900123'  (anything else: country code added)
      '', 'n/a'                               -> null
-#}
{% macro normalise_phone(col, default_country_code=none) -%}
    {%- set cc = default_country_code or var('default_phone_country_code', '44') -%}
    case
        when nullif(regexp_replace({{ col }}, '[^0-9]', '', 'g'), '') is null then null
        when btrim({{ col }}) like '+%'
            then '+' || regexp_replace(replace({{ col }}, '(0)', ''), '[^0-9]', '', 'g')
        when regexp_replace({{ col }}, '[^0-9]', '', 'g') like '00%'
            then '+' || substr(regexp_replace({{ col }}, '[^0-9]', '', 'g'), 3)
        when regexp_replace({{ col }}, '[^0-9]', '', 'g') like '0%'
            then '+{{ cc }}' || substr(regexp_replace({{ col }}, '[^0-9]', '', 'g'), 2)
        when regexp_replace({{ col }}, '[^0-9]', '', 'g') like '{{ cc }}%'
            then '+' || regexp_replace({{ col }}, '[^0-9]', '', 'g')
        else '+{{ cc }}' || regexp_replace({{ col }}, '[^0-9]', '', 'g')
    end
{%- endmacro %}


{#-
    Name for matching: lower case, titles (mr, mrs, ms, miss, dr) removed,
    apostrophes dropped, other punctuation and digits turned into spaces,
    runs of spaces collapsed. 'Mr J. Smith' -> 'j smith', "O'Brien" -> 'obrien'.
-#}
{% macro normalise_name(col) -%}
    nullif(
        btrim(regexp_replace(
            regexp_replace(
                regexp_replace(
                    regexp_replace(lower({{ col }}), '[''’`]', '', 'g'),
                    '[^[:alpha:][:space:]]', ' ', 'g'
                ),
                '\m(mr|mrs|ms|miss|dr)\M', ' ', 'g'
            ),
            '[[:space:]]+', ' ', 'g'
        )),
        ''
    )
{%- endmacro %}


{#-
    A free-text full name split into first and last name (best effort), both normalised.
      'SMITH, John'  -> first 'john', last 'smith'   (comma: "last, first")
      'Mr J. Smith'  -> first 'j',    last 'smith'   (otherwise: first word, last word)
      'Smith'        -> first null,   last 'smith'   (one word: taken as the last name)
-#}
{% macro full_name_first_part(col) -%}
    case
        when {{ col }} like '%,%'
            then split_part({{ normalise_name("split_part(" ~ col ~ ", ',', 2)") }}, ' ', 1)
        when {{ normalise_name(col) }} like '% %'
            then split_part({{ normalise_name(col) }}, ' ', 1)
    end
{%- endmacro %}

{% macro full_name_last_part(col) -%}
    case
        when {{ col }} like '%,%'
            then {{ normalise_name("split_part(" ~ col ~ ", ',', 1)") }}
        else regexp_replace({{ normalise_name(col) }}, '^.* ', '')
    end
{%- endmacro %}


{#- upper case, without spaces: 'sw1a 1aa' -> 'SW1A1AA' -#}
{% macro normalise_postcode(col) -%}
    nullif(upper(regexp_replace({{ col }}, '[[:space:]]', '', 'g')), '')
{%- endmacro %}
