package io.cohort.protocol;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

class LockKeysTest {

    /** The characters that carry structure, a plain one, and a non-ASCII one outside the BMP. */
    private static final String[] ALPHABET = {",", "_", ":", "\\", "a", "é", "\uD83D\uDE00"};

    @Test
    void shouldRoundTripValuesContainingEveryStructuralCharacterAndNonAscii() {
        List<List<String>> rows = List.of(
                List.of("a,b"), List.of("a_b"), List.of("a:b"), List.of("a\\b"), List.of("\\"), List.of("\\,"),
                List.of("trailing\\"), List.of(""), List.of("Grüße", "日本語"), List.of("\uD83D\uDE00_", ":,"),
                List.of("", ""), List.of("1", "2", "3"));
        for (List<String> values : rows) {
            String token = LockKeys.row(values);
            String key = LockKeys.of("we:ird_ta,ble\\", List.of(token));

            LockKeys.Parsed parsed = LockKeys.parse(key);

            assertThat(parsed.rows()).as(key).containsExactly(token);
            assertThat(LockKeys.values(parsed.rows().get(0))).as(key).isEqualTo(values);
            assertThat(LockKeys.unescape(parsed.table())).as(key).isEqualTo("we:ird_ta,ble\\");
        }
    }

    @Test
    void shouldEncodePlainKeysExactlyAsTheFormatBeforeEscaping() {
        // Locks already in a TC's log were written this way; they must keep naming the same rows.
        assertThat(LockKeys.of("orders", List.of(LockKeys.row("1"), LockKeys.row("2")))).isEqualTo("orders:1,2");
        assertThat(LockKeys.of("app.line", List.of(LockKeys.row("7", "x")))).isEqualTo("app.line:7_x");
        assertThat(LockKeys.of("order_line", List.of(LockKeys.row("2024-01-01 10:00:00")))).isEqualTo(
                "order_line:2024-01-01 10:00:00");
    }

    @Test
    void shouldSeparateTheKeysTheOldFormatConfused() {
        assertThat(LockKeys.row("a_b", "c")).isNotEqualTo(LockKeys.row("a", "b_c"));
        assertThat(LockKeys.parse(LockKeys.of("t", List.of(LockKeys.row("x,y"))))).isEqualTo(
                new LockKeys.Parsed("t", List.of("x\\,y")));
        assertThat(LockKeys.row("a_b")).isNotEqualTo(LockKeys.row("a", "b"));
    }

    @Test
    void shouldNeverEncodeDistinctKeysEqualOverEveryShortKeyOfTheAlphabet() {
        // Exhaustive: every key of one to three values, each value of up to two characters.
        List<String> values = stringsUpTo(2);
        Map<String, List<String>> seen = new HashMap<>();
        List<List<String>> keys = new ArrayList<>();
        for (String a : values) {
            keys.add(List.of(a));
            for (String b : values) {
                keys.add(List.of(a, b));
            }
        }
        for (String a : stringsUpTo(1)) {
            for (String b : stringsUpTo(1)) {
                for (String c : stringsUpTo(1)) {
                    keys.add(List.of(a, b, c));
                }
            }
        }
        for (List<String> key : keys) {
            List<String> before = seen.put(LockKeys.row(key), key);
            assertThat(before).as("%s and %s encode equal", before, key).isNull();
            assertThat(LockKeys.values(LockKeys.row(key))).isEqualTo(key);
        }
        assertThat(seen).hasSize(keys.size());
    }

    @Test
    void shouldNeverEncodeDistinctTablesAndRowsEqualForRandomLongerKeys() {
        Random random = new Random(17);
        Map<String, List<List<String>>> seen = new HashMap<>();
        for (int i = 0; i < 50_000; i++) {
            String table = randomString(random, 1 + random.nextInt(4));
            List<List<String>> rows = new ArrayList<>();
            List<String> tokens = new ArrayList<>();
            int arity = 1 + random.nextInt(3);
            for (int r = 0, n = 1 + random.nextInt(3); r < n; r++) {
                List<String> row = new ArrayList<>();
                for (int v = 0; v < arity; v++) {
                    row.add(randomString(random, random.nextInt(6)));
                }
                rows.add(row);
                tokens.add(LockKeys.row(row));
            }
            List<List<String>> identity = new ArrayList<>(rows);
            identity.add(0, List.of(table));
            String key = LockKeys.of(table, tokens);

            List<List<String>> before = seen.putIfAbsent(key, identity);
            assertThat(before == null || before.equals(identity)).as("%s and %s both encode as %s", before, identity, key)
                    .isTrue();
            LockKeys.Parsed parsed = LockKeys.parse(key);
            assertThat(LockKeys.unescape(parsed.table())).isEqualTo(table);
            assertThat(parsed.rows().stream().map(LockKeys::values).toList()).isEqualTo(rows);
        }
    }

    @Test
    void shouldRefuseAKeyWithoutATableNamingIt() {
        assertThatThrownBy(() -> LockKeys.parse(":1")).hasMessageContaining("':1'").hasMessageContaining("<table>:");
        assertThatThrownBy(() -> LockKeys.parse("orders")).hasMessageContaining("'orders'");
        assertThatThrownBy(() -> LockKeys.parse("orders\\:1")).hasMessageContaining("orders\\:1");
    }

    @Test
    void shouldRefuseANullPrimaryKeyValueAndAnEmptyRow() {
        assertThatThrownBy(() -> LockKeys.row(java.util.Arrays.asList("1", null))).hasMessageContaining("value 2 of 2 is null");
        assertThatThrownBy(() -> LockKeys.row(List.of())).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> LockKeys.of("t", List.of())).hasMessageContaining("table t");
    }

    @Test
    void shouldReadAKeyFromAnRmThatDidNotEscapeABackslashAsOneRow() {
        LockKeys.Parsed parsed = LockKeys.parse("t:C\\dir,2");

        assertThat(parsed.rows()).containsExactly("C\\dir", "2");
        assertThat(LockKeys.parse("t:ends\\").rows()).containsExactly("ends\\");
    }

    private static List<String> stringsUpTo(int length) {
        List<String> out = new ArrayList<>();
        out.add("");
        List<String> previous = List.of("");
        for (int l = 1; l <= length; l++) {
            List<String> next = new ArrayList<>();
            for (String p : previous) {
                for (String c : ALPHABET) {
                    next.add(p + c);
                }
            }
            out.addAll(next);
            previous = next;
        }
        return out;
    }

    private static String randomString(Random random, int length) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < length; i++) {
            sb.append(ALPHABET[random.nextInt(ALPHABET.length)]);
        }
        return sb.toString();
    }
}
