-- Every PostgreSQL type the RM claims to restore exactly, with its edge values (TypeMatrixIT).
-- template holds the rows; each test copies them into matrix (the rows it changes) and shadow
-- (the values its UPDATEs and INSERTs write).
CREATE TYPE mood AS ENUM ('sad', 'happy');
CREATE DOMAIN positive AS numeric CHECK (VALUE > 0);
CREATE TYPE pair AS (a int, b text, c timestamptz);

CREATE TABLE matrix (
    id int PRIMARY KEY,
    touched int NOT NULL DEFAULT 0,
    c_int2 smallint, c_int4 integer, c_int8 bigint, c_num numeric, c_num_scaled numeric(12,2),
    c_real real, c_double double precision, c_bool boolean,
    c_text text, c_varchar varchar(40), c_char char(5), c_char1 "char", c_bytea bytea,
    c_date date, c_time time, c_timetz timetz, c_ts timestamp, c_tstz timestamptz, c_interval interval,
    c_uuid uuid, c_json json, c_jsonb jsonb, c_xml xml,
    c_inet inet, c_cidr cidr, c_macaddr macaddr, c_macaddr8 macaddr8, c_bit bit(4), c_varbit varbit,
    c_point point, c_tsvector tsvector,
    c_int_arr int[], c_text_arr text[], c_real_arr real[], c_num_arr numeric[], c_tstz_arr timestamptz[],
    c_int_md int[][],
    c_numrange numrange, c_tstzrange tstzrange, c_daterange daterange, c_multirange int4multirange,
    c_mood mood, c_mood_arr mood[], c_positive positive, c_pair pair, c_pair_arr pair[]
);
CREATE TABLE template (LIKE matrix INCLUDING ALL);
CREATE TABLE shadow (LIKE matrix INCLUDING ALL);
CREATE TABLE saved (LIKE matrix INCLUDING ALL);

-- A primary key whose text depends on the session's time zone, with infinite and BC values.
CREATE TABLE by_time (at timestamptz, seq int, v int NOT NULL, PRIMARY KEY (at, seq));

-- 1: ordinary values; timetz with an offset, an array with explicit bounds, a multi-dimensional one.
INSERT INTO template VALUES (1, 0,
    1, 2, 3, 1.500000, 100.00,
    1.1, 1.1, true,
    'plain', 'varchar', 'ab', 'x', '\x00ff10',
    '2024-02-29', '13:14:15.123456', '13:14:15.123456+05:30', '2024-02-29 13:14:15.123456',
    '2024-02-29 13:14:15.123456+05:30', '1 year 2 mons 3 days 04:05:06.789',
    'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"b": 1,  "a": [1, 2]}', '{"b": 1, "a": [1, 2]}', '<a b="1">x &amp; y</a>',
    '192.168.0.1/24', '10.0.0.0/8', '08:00:2b:01:02:03', '08:00:2b:01:02:03:04:05', B'1010', B'101',
    '(1.5,-2)', 'a fat cat sat',
    '[0:1]={7,8}', '{t4,"a,b","c\"d",NULL,"NULL",""}', '{1.1,NaN,-0,Infinity}', '{1.50,NaN,-Infinity}',
    '{"2024-01-01 00:00:00+05:30",infinity}',
    '{{1,2},{3,NULL}}',
    '[1.5,2.5)', '[2024-01-01 10:00+05:30,infinity)', '[2024-01-01,2024-02-01)', '{[1,3),[5,7)}',
    'happy', '{happy,sad,NULL}', 42.5, '(1,"x y","2024-01-01 10:00+05:30")', '{"(1,a,)","(,,)",NULL}');

-- 2: maxima, NaN, +infinity, 24:00:00, an offset of -15:59.
INSERT INTO template VALUES (2, 0,
    32767, 2147483647, 9223372036854775807, 'NaN', 9999999999.99,
    'NaN', 'NaN', false,
    E'quote '' backslash \\ tab\there newline\nend', 'ü, 日本, 😀', 'abcde', 'Z', '\x5c00ff',
    'infinity', '24:00:00', '24:00:00-15:59', 'infinity',
    'infinity', '178000000 years',
    'ffffffff-ffff-ffff-ffff-ffffffffffff', '[]', '[]', '<?xml version="1.0"?><r/>',
    '::1', '2001:db8::/32', 'ff:ff:ff:ff:ff:ff', 'ff:ff:ff:ff:ff:ff:ff:ff', B'1111', B'1',
    '(NaN,Infinity)', 'x:1A y:2B',
    '[-2:-1][5:6]={{1,2},{3,4}}', '{t4}', '{3.4028235e38,-3.4028235e38,1e-45}', '{123456789012345678901234567890.123456789}',
    '{-infinity}',
    '{{{1}}}',
    '(,)', '(,infinity]', '[-infinity,infinity)', '{[-2147483648,2147483647)}',
    'sad', '{sad}', 0.000000000000000000001, '(,,)', '{}');

-- 3: minima, +Infinity, BC dates and times, empty strings.
INSERT INTO template VALUES (3, 0,
    -32768, -2147483648, -9223372036854775808, 'Infinity', -9999999999.99,
    'Infinity', 'Infinity', true,
    '', '', '', '', '\x',
    '4713-01-01 BC', '00:00:00', '00:00:00+15:59', '4713-01-01 00:00:00 BC',
    '4713-01-01 00:00:00+00 BC', '-178000000 years',
    '00000000-0000-0000-0000-000000000000', 'null', 'null', '',
    '0.0.0.0/0', '0.0.0.0/0', '00:00:00:00:00:00', '00:00:00:00:00:00:00:00', B'0000', B'',
    '(0,-0)', '',
    '{}', '{}', '{}', '{}',
    '{}',
    '{}',
    'empty', 'empty', 'empty', '{}',
    'happy', '{}', 1, '(0,"",)', '{"(,,)"}');

-- 4: NULL everything.
INSERT INTO template (id) VALUES (4);

-- 5: -Infinity, -0, NULL elements, historical offsets, extreme dates.
INSERT INTO template VALUES (5, 0,
    -1, 0, -1, '-Infinity', -0.01,
    '-Infinity', '-Infinity', false,
    'NULL', 'NULL', 'NULL', 'N', '\x',
    '-infinity', '23:59:59.999999', '23:59:59.999999-03:00', '-infinity',
    '-infinity', '-1 days +02:00:00',
    '11111111-2222-3333-4444-555555555555', '""', '""', '<a/>',
    '10.1.2.3', '10.1.2.0/24', '01:02:03:04:05:06', '01:02:03:04:05:06:07:08', B'0001', B'0101010101',
    '(-1e-300,1e300)', '''quoted'' word',
    '{NULL,NULL}', '{"",NULL}', '{-0}', '{-0.0,0.00}',
    '{"1850-06-01 12:00:00+00","1999-12-31 23:59:59.999999-12"}',
    '[1:1][2:2]={{5}}',
    '[-1,0]', '[2024-01-01 00:00:00+00,2024-01-01 00:00:00.000001+00)', '[0044-03-15 BC,0001-01-01)', '{[1,2)}',
    'sad', '{sad,sad}', 99999999999999999999.5, '(-1,"()\"",infinity)', '{"(2,\"b,c\",-infinity)"}');

-- 6: -0 and zero with scale, the far future, the smallest floats.
INSERT INTO template VALUES (6, 0,
    0, -1, 0, 0.000, 0.00,
    '-0', '-0', true,
    'x', 'y', ' ', ' ', '\x00',
    '5874897-12-31', '24:00:00', '24:00:00+00', '294276-12-31 23:59:59.999999',
    '294276-12-31 23:59:59.999999+00', '0',
    'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12', '1.0E+2', '1.0E+2', 'plain text, no element',
    '192.168.0.1', '192.168.0.0/16', '0a:0b:0c:0d:0e:0f', '0a:0b:0c:0d:0e:0f:10:11', B'0110', B'0',
    '(1.4e-45,4.9e-324)', '',
    '{NULL}', '{NULL}', '{1.4e-45,NaN}', '{NaN}',
    '{"0044-03-15 12:00:00+00 BC"}',
    '{{NULL,NULL},{NULL,NULL}}',
    '[0.0,0.00]', '[0044-03-15 12:00:00+00 BC,2024-01-01 00:00:00+00]', '[2024-01-01,)', '{[1,2),[3,4),[5,6)}',
    'happy', '{happy}', 1.000, '(,"",)', '{NULL}');
