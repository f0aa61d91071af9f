package io.cohort.helm;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Predicate;

/**
 * A read-only view of parsed YAML with path navigation ({@code spec.template.spec.containers[0]})
 * whose failures name the missing path, so a broken template reads clearly in a test report.
 */
final class Node {

    private final Object value;
    private final String path;

    Node(Object value, String path) {
        this.value = value;
        this.path = path;
    }

    /** Follows a dotted path; {@code [n]} indexes a list, {@code [name=x]} finds a list item by name. */
    Node at(String relative) {
        Node node = this;
        for (String step : relative.split("\\.(?![^\\[]*\\])")) {
            node = node.step(step);
        }
        return node;
    }

    boolean has(String relative) {
        try {
            return !at(relative).isNull();
        } catch (IllegalArgumentException e) {
            return false;
        }
    }

    private Node step(String step) {
        String key = step;
        String selector = null;
        int bracket = step.indexOf('[');
        if (bracket >= 0) {
            key = step.substring(0, bracket);
            selector = step.substring(bracket + 1, step.length() - 1);
        }
        Node node = key.isEmpty() ? this : child(key);
        return selector == null ? node : node.select(selector);
    }

    private Node child(String key) {
        String childPath = path.isEmpty() ? key : path + "." + key;
        if (!(value instanceof Map<?, ?> map)) {
            throw new IllegalArgumentException(path + " is not a map, cannot read " + childPath);
        }
        if (!map.containsKey(key)) {
            throw new IllegalArgumentException("missing " + childPath + "; keys here: " + map.keySet());
        }
        return new Node(map.get(key), childPath);
    }

    private Node select(String selector) {
        List<Node> items = list();
        int eq = selector.indexOf('=');
        if (eq < 0) {
            int index = Integer.parseInt(selector);
            if (index >= items.size()) {
                throw new IllegalArgumentException(path + " has " + items.size() + " items, no [" + index + "]");
            }
            return items.get(index);
        }
        String field = selector.substring(0, eq);
        String wanted = selector.substring(eq + 1);
        return items.stream()
                .filter(item -> item.map().containsKey(field) && wanted.equals(String.valueOf(item.map().get(field))))
                .findFirst()
                .orElseThrow(() -> new IllegalArgumentException("no item with " + field + "=" + wanted + " in " + path
                        + ": " + value));
    }

    List<Node> list() {
        if (!(value instanceof List<?> raw)) {
            throw new IllegalArgumentException(path + " is not a list: " + value);
        }
        List<Node> items = new ArrayList<>(raw.size());
        for (int i = 0; i < raw.size(); i++) {
            items.add(new Node(raw.get(i), path + "[" + i + "]"));
        }
        return items;
    }

    Optional<Node> find(Predicate<Node> predicate) {
        return list().stream().filter(predicate).findFirst();
    }

    @SuppressWarnings("unchecked")
    Map<String, Object> map() {
        if (!(value instanceof Map<?, ?>)) {
            throw new IllegalArgumentException(path + " is not a map: " + value);
        }
        return (Map<String, Object>) value;
    }

    String text() {
        if (value == null) {
            throw new IllegalArgumentException(path + " is null");
        }
        return String.valueOf(value);
    }

    int integer() {
        if (!(value instanceof Number number)) {
            throw new IllegalArgumentException(path + " is not a number: " + value);
        }
        return number.intValue();
    }

    boolean bool() {
        if (!(value instanceof Boolean b)) {
            throw new IllegalArgumentException(path + " is not a boolean: " + value);
        }
        return b;
    }

    boolean isNull() {
        return value == null;
    }

    Object raw() {
        return value;
    }

    @Override
    public String toString() {
        return path + "=" + value;
    }
}
