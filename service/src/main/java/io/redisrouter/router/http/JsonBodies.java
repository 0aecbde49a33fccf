package io.redisrouter.router.http;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonStreamContext;
import com.fasterxml.jackson.core.exc.InputCoercionException;
import com.fasterxml.jackson.core.exc.StreamConstraintsException;
import com.fasterxml.jackson.databind.DeserializationContext;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonDeserializer;
import com.fasterxml.jackson.databind.JsonMappingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.ObjectReader;
import com.fasterxml.jackson.databind.cfg.CoercionAction;
import com.fasterxml.jackson.databind.cfg.CoercionInputShape;
import com.fasterxml.jackson.databind.deser.DeserializationProblemHandler;
import com.fasterxml.jackson.databind.exc.MismatchedInputException;
import com.fasterxml.jackson.databind.type.LogicalType;
import io.redisrouter.protocol.EnvelopeCodec;
import io.redisrouter.protocol.FieldError;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.model.StatusCodes;
import org.apache.pekko.util.ByteString;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.TreeSet;
import java.util.function.Function;
import java.util.function.Supplier;

/**
 * Reads JSON request bodies into records with Jackson, and turns what Jackson finds wrong into the API's field
 * errors: text that is not JSON is {@code 400 invalid-json}; unknown fields are collected (all of them, each named
 * with its path, e.g. {@code webhook.retries}) as {@code unknown-field}; a value of the wrong type (a string where a
 * number belongs, a number where a string belongs: no coercion between them) is the field error the body's
 * {@link Spec} gives for that path. The record's own checks (ranges, names) then add theirs.
 */
public final class JsonBodies {
  private static final org.slf4j.Logger log = org.slf4j.LoggerFactory.getLogger(JsonBodies.class);

  private JsonBodies() {}

  private static final String PROBLEMS = "problems";

  private static final ObjectMapper STRICT = strict();

  private static ObjectMapper strict() {
    ObjectMapper m = EnvelopeCodec.mapper().copy()
        .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
        .disable(DeserializationFeature.ACCEPT_SINGLE_VALUE_AS_ARRAY)
        .disable(DeserializationFeature.ACCEPT_FLOAT_AS_INT)
        .addHandler(new UnknownFields());
    // a field is the JSON type the API documents: "10" is not a number, 10 and true are not strings
    for (LogicalType t : List.of(LogicalType.Integer, LogicalType.Float, LogicalType.Boolean)) {
      m.coercionConfigFor(t).setCoercion(CoercionInputShape.String, CoercionAction.Fail)
          .setCoercion(CoercionInputShape.EmptyString, CoercionAction.Fail);
    }
    m.coercionConfigFor(LogicalType.Boolean).setCoercion(CoercionInputShape.Integer, CoercionAction.Fail);
    m.coercionConfigFor(LogicalType.Textual).setCoercion(CoercionInputShape.Integer, CoercionAction.Fail)
        .setCoercion(CoercionInputShape.Float, CoercionAction.Fail)
        .setCoercion(CoercionInputShape.Boolean, CoercionAction.Fail);
    return m;
  }

  /**
   * How one body is read.
   *
   * @param type      the record
   * @param example   a valid body, quoted in the message of {@code invalid-json}
   * @param empty     the value of an empty body (or {@code null}), or null when a body is required
   * @param wrongType the field error for a value of the wrong type at a path ({@code ""} is the body itself,
   *                  {@code "webhook.timeoutMs"}, {@code "deliveryIds[0]"}, {@code "messages[2].ttl"})
   */
  public record Spec<T>(Class<T> type, String example, Supplier<T> empty, Function<String, FieldError> wrongType) {}

  /** The outcome of reading a body: the record, or the 400 to answer. */
  public sealed interface Parsed<T> {
    record Ok<T>(T value, List<FieldError> unknownFields) implements Parsed<T> {}

    record Invalid<T>(HttpResponse response) implements Parsed<T> {}
  }

  public static <T> Parsed<T> read(ByteString body, Spec<T> spec) {
    List<FieldError> unknown = new ArrayList<>();
    T value;
    try {
      value = body.isEmpty() ? null : reader(spec.type(), unknown).readValue(body.toArray());
    } catch (MismatchedInputException e) {
      if (isEmptyContent(e)) {
        value = null;
      } else {
        List<FieldError> errors = new ArrayList<>(unknown);
        errors.add(wrongType(spec, path(e)));
        return new Parsed.Invalid<>(invalid(errors));
      }
    } catch (JsonMappingException e) {
      // the parser failed under a field (Jackson wraps it with the path): the JSON there is broken or too big
      if (e.getCause() instanceof InputCoercionException) {
        return new Parsed.Invalid<>(invalid(List.of(wrongType(spec, path(e)))));
      }
      // a value over a limit is named by its field; broken syntax (a truncated body) is the body's
      if (e.getCause() instanceof StreamConstraintsException cause) return notJson(spec, cause, path(e));
      if (e.getCause() instanceof JsonProcessingException cause) return notJson(spec, cause, "");
      // a record constructor that refused its arguments: the record's checks are in validate, so this is a bug
      log.warn("cannot bind {}: {}", spec.type().getSimpleName(), e.getOriginalMessage());
      return new Parsed.Invalid<>(invalid(List.of(wrongType(spec, path(e)))));
    } catch (InputCoercionException e) {
      // a number too big for its field's type (an int, a long)
      return new Parsed.Invalid<>(invalid(List.of(wrongType(spec, parserPath(e)))));
    } catch (IOException e) {
      return notJson(spec, e, e instanceof StreamConstraintsException c ? parserPath(c) : "");
    }
    if (value == null) {
      if (spec.empty() == null) {
        return new Parsed.Invalid<>(invalid(List.of(wrongType(spec, ""))));
      }
      value = spec.empty().get();
    }
    return new Parsed.Ok<>(value, List.copyOf(unknown));
  }

  /**
   * The 400 invalid-json: the body's syntax is broken ({@code body}), or a value is over one of Jackson's limits
   * (nesting depth 1000, number length 1000, ...) at {@code path} (the field it is under).
   */
  private static <T> Parsed<T> notJson(Spec<T> spec, IOException e, String path) {
    String line = firstLine(e instanceof JsonProcessingException j ? j.getOriginalMessage() : e.getMessage());
    String field = path.isEmpty() || path.length() > 200 ? "body" : path;
    String where = field.equals("body") ? "the body is" : field + " is";
    return new Parsed.Invalid<>(RouteSupport.json(StatusCodes.BAD_REQUEST, new ApiError("invalid-json",
        where + " not valid JSON (" + line + "): send " + spec.example(),
        List.of(new FieldError(field, "invalid-json", where + " not valid JSON: send " + spec.example())))));
  }

  /** The spec's field error for {@code path}; the body itself ({@code ""}) is always named "body". */
  private static FieldError wrongType(Spec<?> spec, String path) {
    FieldError e = spec.wrongType().apply(path);
    if (!path.isEmpty()) return e;
    return new FieldError("body", e.code(), e.message());
  }

  /** The field a parser was in when it failed: its path without the array indexes it went down into. */
  private static String parserPath(JsonProcessingException e) {
    Object p = e.getProcessor();
    if (!(p instanceof JsonParser parser)) return "";
    return pathOf(parser.getParsingContext()).replaceAll("(\\[\\d+])+$", "");
  }

  private static ObjectReader reader(Class<?> type, List<FieldError> unknown) {
    return STRICT.readerFor(type).withAttribute(PROBLEMS, unknown);
  }

  /** The 400 for field errors: every message in one sentence, every error listed. */
  public static HttpResponse invalid(List<FieldError> errors) {
    return RouteSupport.json(StatusCodes.BAD_REQUEST, new ApiError("invalid",
        errors.stream().map(FieldError::message).reduce((a, b) -> a + "; " + b).orElse("invalid request"), errors));
  }

  private static boolean isEmptyContent(MismatchedInputException e) {
    return e.getPath().isEmpty() && e.getOriginalMessage() != null
        && e.getOriginalMessage().startsWith("No content to map");
  }

  /** "webhook.timeoutMs", "deliveryIds[0]", "" for the body itself. */
  static String path(JsonMappingException e) {
    StringBuilder b = new StringBuilder();
    for (JsonMappingException.Reference r : e.getPath()) {
      if (r.getFieldName() != null) {
        if (!b.isEmpty()) b.append('.');
        b.append(r.getFieldName());
      } else if (r.getIndex() >= 0) {
        b.append('[').append(r.getIndex()).append(']');
      }
    }
    return b.toString();
  }

  private static String firstLine(String s) {
    if (s == null) return "parse error";
    int nl = s.indexOf('\n');
    return nl < 0 ? s : s.substring(0, nl);
  }

  /** Collects every unknown field, with its path and the known ones, and skips its value. */
  private static final class UnknownFields extends DeserializationProblemHandler {
    @Override
    @SuppressWarnings("unchecked")
    public boolean handleUnknownProperty(DeserializationContext ctxt, JsonParser p, JsonDeserializer<?> deserializer,
        Object beanOrClass, String propertyName) throws IOException {
      Object problems = ctxt.getAttribute(PROBLEMS);
      if (problems instanceof List<?> list) {
        // the parser is at (or, for an array or object, inside) the field's value: its path ends at the field
        JsonStreamContext ctx = p.getParsingContext();
        for (JsonStreamContext c = ctx; c != null; c = c.getParent()) {
          if (c.inObject() && propertyName.equals(c.getCurrentName())) {
            // a buffered object value's own context may carry the field's name too: take the outer one
            while (c.getParent() != null && c.getParent().inObject()
                && propertyName.equals(c.getParent().getCurrentName())) {
              c = c.getParent();
            }
            ctx = c;
            break;
          }
        }
        String path = pathOf(ctx);
        String prefix = path.endsWith(propertyName) ? path.substring(0, path.length() - propertyName.length()) : "";
        Collection<Object> known = deserializer.getKnownPropertyNames();
        List<String> names = new ArrayList<>();
        if (known != null)
          new TreeSet<>(known.stream().map(String::valueOf).toList()).forEach(k -> names.add(prefix + k));
        ((List<FieldError>) list).add(new FieldError(path, "unknown-field", "'" + path + "' is not a known field:"
            + " use " + names));
      }
      p.skipChildren();
      return true;
    }
  }

  private static String pathOf(JsonStreamContext ctx) {
    List<String> parts = new ArrayList<>();
    for (JsonStreamContext c = ctx; c != null && !c.inRoot(); c = c.getParent()) {
      if (c.inObject() && c.getCurrentName() != null) {
        parts.add(0, "." + c.getCurrentName());
      } else if (c.inArray()) {
        parts.add(0, "[" + Math.max(0, c.getCurrentIndex()) + "]");
      }
    }
    String joined = String.join("", parts);
    return joined.startsWith(".") ? joined.substring(1) : joined;
  }
}
