{#- Matching keys: each macro returns a SQL expression; empty results become null. -#}

{#-
    E-mail for matching: lower case, no white space anywhere ('  John.Smith @Example.COM ' ->
    'john.smith@example.com'). Provider-specific rules (gmail dots, plus tags) are not applied:
    they are not safe for every provider. Malformed addresses are repaired, where one valid
    address fits, in int_source_records (see is_valid_email).
-#}
{% macro normalise_email(col) -%}
    nullif(lower(regexp_replace({{ col }}, '[[:space:]]', '', 'g')), '')
{%- endmacro %}


{#- true when a normalised e-mail has one '@', a local part and a dotted domain -#}
{% macro is_valid_email(col) -%}
    coalesce({{ col }} ~ '^[^@]+@[^@.]+(\.[^@.]+)+$', false)
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
    Name for matching: lower case, accents folded ('José Müller' -> 'jose muller',
    'Strauß' -> 'strauss'), titles (mr, mrs, ms, miss, mx, dr, prof, rev, sir) removed,
    apostrophes dropped, other punctuation and digits turned into spaces, runs of
    spaces collapsed. 'Mr J. Smith' -> 'j smith', "O'Brien" -> 'obrien'.
-#}
{% macro normalise_name(col) -%}
    nullif(
        btrim(regexp_replace(
            regexp_replace(
                regexp_replace(
                    regexp_replace({{ fold_accents('lower(' ~ col ~ ')') }}, '[''’`]', '', 'g'),
                    '[^[:alpha:][:space:]]', ' ', 'g'
                ),
                '\m(mr|mrs|ms|miss|mx|dr|prof|rev|sir)\M', ' ', 'g'
            ),
            '[[:space:]]+', ' ', 'g'
        )),
        ''
    )
{%- endmacro %}


{#- lower-case Latin letters with accents -> without ('é' -> 'e', 'ß' -> 'ss', 'æ' -> 'ae'); portable SQL -#}
{% macro fold_accents(expr) -%}
    replace(replace(replace(translate({{ expr }},
        'àáâãäåāăąçćčďèéêëēėęěìíîïīįłñńňòóôõöøōőŕřśšşťùúûüūůűųýÿźżž',
        'aaaaaaaaacccdeeeeeeeeiiiiiilnnnoooooooorrssstuuuuuuuuyyzzz'),
        'ß', 'ss'), 'æ', 'ae'), 'œ', 'oe')
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


{#-
    Street for matching: lower case, accents folded, punctuation to spaces, common
    abbreviations written out ('12 Acacia Rd.' -> '12 acacia road', 'Flat 3, 7 St. John''s Sq'
    -> 'flat 3 7 street johns square': 'st' is always read as 'street').
-#}
{% macro normalise_street(col) -%}
    {%- set abbreviations = {'rd': 'road', 'st': 'street', 'ave': 'avenue', 'av': 'avenue', 'ln': 'lane',
                             'dr': 'drive', 'ct': 'court', 'pl': 'place', 'sq': 'square', 'gdns': 'gardens',
                             'cres': 'crescent', 'tce': 'terrace', 'blvd': 'boulevard', 'apt': 'apartment'} -%}
    {%- set ns = namespace(expr="regexp_replace(regexp_replace(" ~ fold_accents('lower(' ~ col ~ ')')
                                 ~ ", '[''’`]', '', 'g'), '[^[:alnum:]]+', ' ', 'g')") -%}
    {%- for short, long in abbreviations.items() -%}
        {%- set ns.expr = "regexp_replace(" ~ ns.expr ~ ", '\\m" ~ short ~ "\\M', '" ~ long ~ "', 'g')" -%}
    {%- endfor -%}
    nullif(btrim({{ ns.expr }}), '')
{%- endmacro %}


{#- a date of birth usable as a key: after 1900-01-01 (a common placeholder) and not after `as_of` -#}
{% macro normalise_date_of_birth(col, as_of) -%}
    case when {{ col }} > date '1900-01-01' and {{ col }} <= cast({{ as_of }} as date) then {{ col }} end
{%- endmacro %}
