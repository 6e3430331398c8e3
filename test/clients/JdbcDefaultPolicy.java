// pgjdbc under the default policy: what the driver and GUI tools do on their own
// (isolation level, metadata, enum and array values). Prints one JSON object.
import java.sql.*;
import java.util.*;

public class JdbcDefaultPolicy {
  public static void main(String[] args) throws Exception {
    Properties p = new Properties();
    p.setProperty("user", "agent-1");
    p.setProperty("password", System.getenv("PGPASSWORD"));
    p.setProperty("sslmode", "disable");
    StringBuilder out = new StringBuilder("{");
    try (Connection c = DriverManager.getConnection(args[0], p)) {
      c.setTransactionIsolation(Connection.TRANSACTION_SERIALIZABLE);
      c.setAutoCommit(false);
      String iso;
      try (Statement s = c.createStatement(); ResultSet r = s.executeQuery("SHOW transaction_isolation")) {
        r.next();
        iso = r.getString(1);
      }
      c.commit();
      c.setAutoCommit(true);
      c.setTransactionIsolation(Connection.TRANSACTION_READ_COMMITTED);
      out.append("\"isolation\":\"").append(iso).append("\",");
      List<String> tables = new ArrayList<>();
      try (ResultSet r = c.getMetaData().getTables(null, "public", "%", new String[] {"TABLE"})) {
        while (r.next()) tables.add("\"" + r.getString("TABLE_NAME") + "\"");
      }
      out.append("\"tables\":[").append(String.join(",", tables)).append("],");
      List<String> cols = new ArrayList<>();
      try (ResultSet r = c.getMetaData().getColumns(null, "public", "gear", "%")) {
        while (r.next()) cols.add("\"" + r.getString("COLUMN_NAME") + "\"");
      }
      out.append("\"columns\":[").append(String.join(",", cols)).append("],");
      // Foreign keys (Hibernate, DBeaver): pgjdbc first reads max_index_keys from pg_settings.
      List<String> fks = new ArrayList<>();
      try (ResultSet r = c.getMetaData().getImportedKeys(null, "public", "gear")) {
        while (r.next()) fks.add("\"" + r.getString("PKTABLE_NAME") + "\"");
      }
      out.append("\"importedKeys\":[").append(String.join(",", fks)).append("],");
      try (PreparedStatement s = c.prepareStatement("SELECT mood, sizes FROM gear WHERE id = ?")) {
        s.setInt(1, 1);
        try (ResultSet r = s.executeQuery()) {
          r.next();
          Object mood = r.getObject(1);
          Integer[] sizes = (Integer[]) r.getArray(2).getArray();
          out.append("\"mood\":\"").append(mood).append("\",\"sizes\":").append(Arrays.toString(sizes));
        }
      }
    }
    System.out.println(out.append("}"));
  }
}
