package io.cohort.starter;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.InputStream;
import java.nio.file.Path;
import java.util.Properties;
import javax.xml.parsers.DocumentBuilderFactory;
import org.junit.jupiter.api.Test;
import org.w3c.dom.Document;
import org.w3c.dom.Element;

/**
 * cohort-bom has no parent (a BOM's parent is imported with it), so it repeats the versions the
 * parent pom builds with; this test fails when the two drift apart.
 */
class BomMatchesBuildTest {

    @Test
    void bomDeclaresTheVersionsThisBuildUses() throws Exception {
        Properties build = new Properties();
        try (InputStream in = getClass().getResourceAsStream("/build-versions.properties")) {
            build.load(in);
        }
        Document bom = DocumentBuilderFactory.newInstance().newDocumentBuilder()
                .parse(Path.of("..", "bom", "pom.xml").toFile());
        Element properties = (Element) bom.getDocumentElement().getElementsByTagName("properties").item(0);

        assertThat(text(bom.getDocumentElement(), "version")).as("cohort-bom's own version").isEqualTo(build.getProperty("cohort.version"));
        for (String name : build.stringPropertyNames()) {
            assertThat(text(properties, name)).as("cohort-bom property " + name).isEqualTo(build.getProperty(name));
        }
    }

    @Test
    void theConsumerCheckBuildsAgainstThisVersion() throws Exception {
        Properties build = new Properties();
        try (InputStream in = getClass().getResourceAsStream("/build-versions.properties")) {
            build.load(in);
        }
        Document consumer = DocumentBuilderFactory.newInstance().newDocumentBuilder()
                .parse(Path.of("..", "examples", "consumer-it", "pom.xml").toFile());
        Element properties = (Element) consumer.getDocumentElement().getElementsByTagName("properties").item(0);

        assertThat(text(properties, "cohort.version")).isEqualTo(build.getProperty("cohort.version"));
    }

    private static String text(Element parent, String childTag) {
        for (var node = parent.getFirstChild(); node != null; node = node.getNextSibling()) {
            if (node instanceof Element child && child.getTagName().equals(childTag)) {
                return child.getTextContent().trim();
            }
        }
        return null;
    }
}
