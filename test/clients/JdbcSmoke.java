// pgjdbc (Debian's libpostgresql-jdbc-java) through the gateway: prints one JSON document
// the vitest test checks. Run as a single-file program:
//   java -cp /usr/share/java/postgresql.jar JdbcSmoke.java JDBC_URL   (token in PGPASSWORD)
// pgjdbc batches many Parse/Bind/Execute before one Sync, switches to named server-side
// statements after prepareThreshold executions, pages with fetch sizes and copies with
// the CopyManager.
import java.io.StringReader;
import java.io.StringWriter;
import java.io.Writer;
import java.io.OutputStream;
import java.sql.*;
import java.util.*;
import org.postgresql.PGConnection;
import org.postgresql.copy.CopyManager;

public class JdbcSmoke {
  static final StringBuilder out = new StringBuilder("{");

  static void put(String key, Object value) {
    if (out.length() > 1) out.append(',');
    out.append('"').append(key).append("\":").append(json(value));
  }

  static String json(Object v) {
    if (v == null) return "null";
    if (v instanceof Number || v instanceof Boolean) return v.toString();
    if (v instanceof List) {
      StringJoiner j = new StringJoiner(",", "[", "]");
      for (Object o : (List<?>) v) j.add(json(o));
      return j.toString();
    }
    StringBuilder s = new StringBuilder("\"");
    for (char c : v.toString().toCharArray()) {
      if (c == '"' || c == '\\') s.append('\\').append(c);
      else if (c == '\n') s.append("\\n");
      else if (c < 0x20) s.append(String.format("\\u%04x", (int) c));
      else s.append(c);
    }
    return s.append('"').toString();
  }

  public static void main(String[] args) throws Exception {
    Properties p = new Properties();
    p.setProperty("user", "agent-1");
    p.setProperty("password", System.getenv("PGPASSWORD"));
    p.setProperty("connectTimeout", "10");
    p.setProperty("socketTimeout", "30");
    try (Connection c = DriverManager.getConnection(args[0], p)) {
      try (PreparedStatement ps = c.prepareStatement("SELECT ?::int + 1, ?::text")) {
        ps.setInt(1, 41);
        ps.setString(2, "snow \u2603");
        try (ResultSet rs = ps.executeQuery()) {
          rs.next();
          put("params", List.of(rs.getInt(1), rs.getString(2)));
        }
      }

      // Typed parameters: pgjdbc declares float8 (701), float4 (700) and numeric (1700) in
      // the Parse, OIDs whose bytes are not text.
      try (PreparedStatement ps = c.prepareStatement("SELECT ?::text, ?::text, ?::text")) {
        ps.setDouble(1, 2.5);
        ps.setFloat(2, 0.25f);
        ps.setBigDecimal(3, new java.math.BigDecimal("12.34"));
        try (ResultSet rs = ps.executeQuery()) {
          rs.next();
          put("typed", List.of(rs.getString(1), rs.getString(2), rs.getString(3)));
        }
      }

      // A batch: many Parse/Bind/Execute, one Sync.
      try (PreparedStatement ps = c.prepareStatement("INSERT INTO items (id, name) VALUES (?, ?)")) {
        for (int i = 1; i <= 50; i++) {
          ps.setInt(1, i);
          ps.setString(2, "n" + i);
          ps.addBatch();
        }
        int[] counts = ps.executeBatch();
        put("batch", counts.length);
      }

      // The same statement executed past prepareThreshold: a named server-side statement.
      List<Object> names = new ArrayList<>();
      try (PreparedStatement ps = c.prepareStatement("SELECT name FROM items WHERE id = ?")) {
        for (int i = 1; i <= 8; i++) {
          ps.setInt(1, i);
          try (ResultSet rs = ps.executeQuery()) {
            rs.next();
            names.add(rs.getString(1));
          }
        }
      }
      put("repeated", names);
      try (Statement st = c.createStatement();
          ResultSet rs =
              st.executeQuery("SELECT count(*) FROM pg_prepared_statements WHERE NOT from_sql")) {
        rs.next();
        put("server_prepared", rs.getInt(1));
      }

      // Transactions: commit and rollback.
      c.setAutoCommit(false);
      try (Statement st = c.createStatement()) {
        st.executeUpdate("UPDATE items SET name = 'committed' WHERE id = 1");
        c.commit();
        st.executeUpdate("UPDATE items SET name = 'rolled back' WHERE id = 2");
        c.rollback();
      }
      // A fetch size inside a transaction: Execute with a row count, PortalSuspended.
      List<Object> ids = new ArrayList<>();
      try (Statement st = c.createStatement()) {
        st.setFetchSize(7);
        try (ResultSet rs = st.executeQuery("SELECT id FROM items ORDER BY id")) {
          while (rs.next()) ids.add(rs.getInt(1));
        }
      }
      c.commit();
      c.setAutoCommit(true);
      put("fetched", ids.size());
      try (Statement st = c.createStatement();
          ResultSet rs = st.executeQuery("SELECT name FROM items WHERE id IN (1, 2) ORDER BY id")) {
        List<Object> tx = new ArrayList<>();
        while (rs.next()) tx.add(rs.getString(1));
        put("tx", tx);
      }

      // COPY in and out through the CopyManager.
      CopyManager cm = c.unwrap(PGConnection.class).getCopyAPI();
      StringBuilder data = new StringBuilder();
      for (int i = 0; i < 25; i++) data.append(500 + i).append("\tcopied ").append(i).append('\n');
      put("copied_in", cm.copyIn("COPY items (id, name) FROM STDIN", new StringReader(data.toString())));
      StringWriter w = new StringWriter();
      cm.copyOut("COPY (SELECT id, name FROM items WHERE id < 3 ORDER BY id) TO STDOUT WITH CSV", w);
      put("copied_out", w.toString());

      // Errors carry the SQLSTATE and leave the connection usable.
      try (Statement st = c.createStatement()) {
        try {
          st.executeQuery("SELECT 1 / 0");
        } catch (SQLException e) {
          put("runtime_error", e.getSQLState());
        }
        try {
          st.executeQuery("SELEC broken");
        } catch (SQLException e) {
          put("syntax_error", e.getSQLState());
        }
      }

      // A batch holding one statement the policy refuses runs none of its statements.
      try (Statement st = c.createStatement()) {
        st.addBatch("INSERT INTO items (id, name) VALUES (900, 'before')");
        st.addBatch("INSERT INTO secrets (id) VALUES (1)");
        st.addBatch("INSERT INTO items (id, name) VALUES (901, 'after')");
        try {
          st.executeBatch();
          put("refused_batch", "ran");
        } catch (BatchUpdateException e) {
          SQLException cause = e.getNextException() != null ? e.getNextException() : e;
          put("refused_batch", cause.getSQLState());
          put("refused_message", cause.getMessage());
        }
      }

      // A batch with code the gateway cannot see into (DO) between its inserts runs whole.
      try (Statement st = c.createStatement()) {
        st.addBatch("INSERT INTO items (id, name) VALUES (910, 'before do')");
        st.addBatch("DO $$ BEGIN PERFORM 1; END $$");
        st.addBatch("INSERT INTO items (id, name) VALUES (911, 'after do')");
        put("opaque_batch", st.executeBatch().length);
      }

      // Metadata: the driver's own catalog queries.
      List<Object> tables = new ArrayList<>();
      try (ResultSet rs = c.getMetaData().getTables(null, "public", "items", new String[] {"TABLE"})) {
        while (rs.next()) tables.add(rs.getString("TABLE_NAME"));
      }
      put("tables", tables);

      try (Statement st = c.createStatement();
          ResultSet rs = st.executeQuery("SELECT count(*) FROM items")) {
        rs.next();
        put("final_count", rs.getInt(1));
      }
    }
    System.out.println(out.append('}'));
  }
}
